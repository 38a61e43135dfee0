// Recipe section `method`: which self-supervised method and its knobs. Keys that
// a method does not use are accepted (so one recipe can switch method with
// --set method.name=...), but each has one meaning.
export interface MethodConfig {
  name: 'simclr' | 'mocov2' | 'mocov3';
  /** Softmax temperature of the contrastive loss. Unset in a recipe: the method's paper default (see METHOD_TEMPERATURE). */
  temperature: number;
  /** MoCo v2: number of negatives kept in the queue (a multiple of the batch size). */
  queue_size: number;
  /** MoCo: momentum of the key encoder's exponential moving average (v3: the starting value). */
  momentum: number;
  /** MoCo v3: raise the momentum to 1 on a cosine schedule. */
  momentum_schedule: boolean;
  /** MoCo: loss over both views as queries. */
  symmetric: boolean;
  /** MoCo: batch-norm groups (single-device substitute for shuffle-BN); 1 = off. */
  bn_splits: number;
  /** MoCo v3: hidden width of the predictor MLP. */
  predictor_hidden: number;
  /** MoCo: a non-affine batch norm on the head's output (as MoCo v3's projector ends); see src/methods/moco-bn.ts. */
  output_batch_norm: boolean;
}

export const methodSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    name: { enum: ['simclr', 'mocov2', 'mocov3'], default: 'simclr' },
    // No schema default: it depends on `name` (filled in by applyMethodDefaults).
    temperature: { type: 'number', exclusiveMinimum: 0 },
    queue_size: { type: 'integer', minimum: 1, default: 4096 },
    momentum: { type: 'number', minimum: 0, maximum: 1, default: 0.99 },
    momentum_schedule: { type: 'boolean', default: false },
    symmetric: { type: 'boolean', default: false },
    bn_splits: { type: 'integer', minimum: 1, default: 1 },
    predictor_hidden: { type: 'integer', minimum: 1, default: 256 },
    output_batch_norm: { type: 'boolean', default: true },
  },
} as const;

/** The papers' temperatures: SimCLR 0.5 (its CIFAR setting), MoCo v2 0.2, MoCo v3 1.0. */
export const METHOD_TEMPERATURE: Record<MethodConfig['name'], number> = { simclr: 0.5, mocov2: 0.2, mocov3: 1.0 };

/** Fills the knobs whose default depends on the method. */
export function applyMethodDefaults(m: Partial<MethodConfig> & Pick<MethodConfig, 'name'>): void {
  if (m.temperature === undefined) m.temperature = METHOD_TEMPERATURE[m.name];
}
