// Recipe section `method`: which method and its knobs. Self-supervised methods
// (simclr, mocov2, mocov3, byol, simsiam, barlowtwins, vicreg) learn from two views alone; the metric-learning ones
// (supcon, triplet, contrastive, multisimilarity) also use labels. Keys that a
// method does not use are accepted (so one recipe can switch method with
// --set method.name=...), but each has one meaning.
export const SELF_SUPERVISED = ['simclr', 'mocov2', 'mocov3', 'byol', 'simsiam', 'barlowtwins', 'vicreg'] as const;
export const SUPERVISED = ['supcon', 'triplet', 'contrastive', 'multisimilarity'] as const;
export type MethodName = (typeof SELF_SUPERVISED)[number] | (typeof SUPERVISED)[number];
export type MinerName = 'auto' | 'none' | 'all' | 'batch_hard' | 'semi_hard' | 'multisimilarity';

export function isSupervised(name: MethodName): name is (typeof SUPERVISED)[number] {
  return (SUPERVISED as readonly string[]).includes(name);
}

export interface MethodConfig {
  name: MethodName;
  /** Softmax temperature of the contrastive loss. Unset in a recipe: the method's paper default (see METHOD_TEMPERATURE). */
  temperature: number;
  /** MoCo v2: number of negatives kept in the queue (a multiple of the batch size). */
  queue_size: number;
  /** MoCo, BYOL: momentum of the key / target encoder's exponential moving average (with the schedule: the starting value). */
  momentum: number;
  /** MoCo v3, BYOL: raise the momentum to 1 on a cosine schedule. */
  momentum_schedule: boolean;
  /** MoCo: loss over both views as queries. */
  symmetric: boolean;
  /** MoCo: batch-norm groups (single-device substitute for shuffle-BN); 1 = off. */
  bn_splits: number;
  /** MoCo v3, BYOL, SimSiam: hidden width of the predictor MLP (SimSiam's is a bottleneck: smaller than head_out). */
  predictor_hidden: number;
  /** MoCo, SimSiam: a non-affine batch norm on the head's output (as MoCo v3's and SimSiam's projectors end); see src/methods/moco-bn.ts. */
  output_batch_norm: boolean;
  /** Barlow Twins: weight of the off-diagonal (redundancy) term against the diagonal (invariance) one. */
  barlow_lambda: number;
  /** VICReg: weights of the invariance, variance and covariance terms. */
  vicreg_sim: number;
  vicreg_std: number;
  vicreg_cov: number;
  /** Metric learning: which tuples the loss sees ('auto' = the method's usual miner, see DEFAULT_MINER). */
  miner: MinerName;
  /** Metric learning: cosine similarity or Euclidean distance, both on L2-normalized embeddings. */
  distance: 'cosine' | 'l2';
  /** triplet: margin between the positive and the negative distance (also the semi-hard window). */
  margin: number;
  /** triplet with l2: squared distances (FaceNet) instead of plain ones. */
  squared: boolean;
  /** contrastive: margins for positive / negative pairs; unset = pytorch-metric-learning's per-distance defaults. */
  pos_margin?: number;
  neg_margin?: number;
  /** multisimilarity: the loss's alpha (positives), beta (negatives) and base similarity. */
  ms_alpha: number;
  ms_beta: number;
  ms_base: number;
  /** multisimilarity miner: how far inside the hardest opposite pair a pair must lie to be kept. */
  miner_epsilon: number;
  /** 'all' miner for triplets: cap per batch, drawn with the run's seed; 0 = every triplet. */
  max_triplets: number;
  /** Metric learning: embed both augmented views (2N rows, labels repeated) or only the first (N rows, half the work). */
  views: 1 | 2;
}

export const methodSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    name: { enum: [...SELF_SUPERVISED, ...SUPERVISED], default: 'simclr' },
    // No schema default: it depends on `name` (filled in by applyMethodDefaults).
    temperature: { type: 'number', exclusiveMinimum: 0 },
    queue_size: { type: 'integer', minimum: 1, default: 4096 },
    momentum: { type: 'number', minimum: 0, maximum: 1, default: 0.99 },
    momentum_schedule: { type: 'boolean', default: false },
    symmetric: { type: 'boolean', default: false },
    bn_splits: { type: 'integer', minimum: 1, default: 1 },
    predictor_hidden: { type: 'integer', minimum: 1, default: 256 },
    output_batch_norm: { type: 'boolean', default: true },
    barlow_lambda: { type: 'number', minimum: 0, default: 0.0051, description: 'barlowtwins: weight of the off-diagonal term (paper: 0.0051 for 8192 dims; about 1/head_out)' },
    vicreg_sim: { type: 'number', minimum: 0, default: 25, description: 'vicreg: invariance weight' },
    vicreg_std: { type: 'number', minimum: 0, default: 25, description: 'vicreg: variance weight' },
    vicreg_cov: { type: 'number', minimum: 0, default: 1, description: 'vicreg: covariance weight' },
    miner: { enum: ['auto', 'none', 'all', 'batch_hard', 'semi_hard', 'multisimilarity'], default: 'auto', description: 'metric learning: tuples the loss sees; auto = the method\'s usual one' },
    distance: { enum: ['cosine', 'l2'], default: 'cosine', description: 'metric learning: on L2-normalized embeddings' },
    margin: { type: 'number', minimum: 0, default: 0.1, description: 'triplet margin (and the semi-hard window)' },
    squared: { type: 'boolean', default: false, description: 'triplet with l2: squared distances' },
    pos_margin: { type: 'number', description: 'contrastive: positive-pair margin (default per distance: cosine 1, l2 0)' },
    neg_margin: { type: 'number', description: 'contrastive: negative-pair margin (default per distance: cosine 0, l2 1)' },
    ms_alpha: { type: 'number', exclusiveMinimum: 0, default: 2 },
    ms_beta: { type: 'number', exclusiveMinimum: 0, default: 50 },
    ms_base: { type: 'number', default: 0.5 },
    miner_epsilon: { type: 'number', minimum: 0, default: 0.1 },
    max_triplets: { type: 'integer', minimum: 0, default: 0, description: "'all' miner: cap on triplets per batch; 0 = all" },
    views: { enum: [1, 2], default: 2, description: 'metric learning: embed both augmented views or only the first' },
  },
} as const;

/**
 * The papers' temperatures: SimCLR 0.5 (its CIFAR setting), MoCo v2 0.2, MoCo v3 1.0,
 * SupCon 0.1 (Khosla et al.); the other losses have none (the value is unused).
 */
export const METHOD_TEMPERATURE: Record<MethodName, number> = {
  simclr: 0.5, mocov2: 0.2, mocov3: 1.0, byol: 1, simsiam: 1, barlowtwins: 1, vicreg: 1,
  supcon: 0.1, triplet: 0.1, contrastive: 0.1, multisimilarity: 0.1,
};

/** Whether the method's loss has a temperature (the softmax losses: SimCLR, MoCo, SupCon). */
export function usesTemperature(name: MethodName): boolean {
  return name === 'simclr' || name === 'mocov2' || name === 'mocov3' || name === 'supcon';
}

/**
 * The miner each metric method uses unless the recipe says otherwise: triplets
 * from the semi-hard window (FaceNet), the multi-similarity miner with its loss
 * (Wang et al.), every pair for the contrastive loss and SupCon (which weighs
 * all pairs through its softmax and needs no mining).
 */
export const DEFAULT_MINER: Record<(typeof SUPERVISED)[number], Exclude<MinerName, 'auto'>> = {
  supcon: 'none', triplet: 'semi_hard', contrastive: 'none', multisimilarity: 'multisimilarity',
};

/** Fills the knobs whose default depends on the method. */
export function applyMethodDefaults(m: Partial<MethodConfig> & Pick<MethodConfig, 'name'>): void {
  if (m.temperature === undefined) m.temperature = METHOD_TEMPERATURE[m.name];
}
