// Recipe section `eval`: how a frozen backbone is judged. k-NN defaults (k=200,
// T=0.1, exp(sim/T) votes) follow InstDisc / the MoCo CIFAR demo / lightly; the
// linear probe follows the usual protocol (standardized frozen features,
// multinomial logistic regression, decay chosen on a validation split carved
// from the train split, test evaluated once).

export interface LinearProbeConfig {
  epochs: number;
  lr: number;
  /** Candidate weight decays; each is trained and the best on the validation split is kept. */
  weight_decay: number[];
  batch_size: number;
  momentum: number;
  schedule: 'cosine' | 'constant';
  /** Fraction of the labelled train split held out to choose the decay (0 = no search, first decay used). */
  val_fraction: number;
}

export interface FewShotConfig {
  ways: number;
  shots: number;
  /** Query items per class per episode. */
  queries: number;
  episodes: number;
  /** Labels the episodes draw from (meant to be held out of pretraining); empty = every label of the test split. */
  classes: number[];
}

/** `selfsup eval retrieval`: leave-one-out retrieval on the test split (see src/eval/retrieval.ts). */
export interface RetrievalConfig {
  /** Most query rows per similarity tile. */
  query_tile: number;
  /** Cap on query rows x test items per tile (its similarity block, floats): big test sets get fewer rows per tile (memory bound, results unchanged). */
  max_entries: number;
  /** Queries drawn in retrieval.png (one per class), each with its nearest neighbours. */
  sheet_queries: number;
  sheet_neighbours: number;
}

/** `selfsup eval verify`: same/different pairs, ROC, equal error rate, threshold (see src/eval/verify.ts). */
export interface VerifyConfig {
  /** False-accept rate the calibration threshold is chosen for. */
  far: number;
  /** Most pairs scored (half same-class, half different-class); every pair when the split has no more. */
  max_pairs: number;
}

export interface EvalConfig {
  knn_k: number;
  knn_t: number;
  knn_weighting: 'exp' | 'majority';
  /** Epochs between online k-NN checks during pretraining; 0 = only at the end. */
  every: number;
  /** Images per forward pass when extracting features. */
  batch_size: number;
  /** Train-bank rows per similarity tile in k-NN (bounds memory). */
  knn_chunk: number;
  /** Cap on the labelled train items used by the online monitor (0 = all), to keep it cheap. */
  monitor_limit: number;
  linear: LinearProbeConfig;
  fewshot: FewShotConfig;
  /** Write PNG plots (accuracy curve, confusion matrix, embedding map) next to the JSON report. */
  plots: boolean;
  /** Most test points drawn in the 2-D embedding map (UMAP cost grows with it). */
  map_points: number;
  /**
   * What retrieval / verification embed with: the backbone's features or the projection head's output.
   * The three keys below are always filled from a recipe (schema defaults); they are optional only so
   * that hand-built configs need not spell them out (absent = the defaults).
   */
  embedding?: 'backbone' | 'head';
  retrieval?: RetrievalConfig;
  verify?: VerifyConfig;
}

/** The schema's defaults for the optional keys above (for configs built by hand). */
export const DEFAULT_RETRIEVAL: RetrievalConfig = { query_tile: 256, max_entries: 4194304, sheet_queries: 8, sheet_neighbours: 8 };
export const DEFAULT_VERIFY: VerifyConfig = { far: 0.001, max_pairs: 200000 };

/** JSON Schema (Ajv 8, run with useDefaults) for the `eval` section. */
export const evalSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    knn_k: { type: 'integer', minimum: 1, default: 200 },
    knn_t: { type: 'number', exclusiveMinimum: 0, default: 0.1 },
    knn_weighting: { enum: ['exp', 'majority'], default: 'exp' },
    every: { type: 'integer', minimum: 0, default: 0, description: 'epochs between online k-NN checks; 0 = only at the end' },
    batch_size: { type: 'integer', minimum: 1, default: 256 },
    knn_chunk: { type: 'integer', minimum: 1, default: 4096 },
    monitor_limit: { type: 'integer', minimum: 0, default: 0, description: '0 = all labelled train items' },
    linear: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        epochs: { type: 'integer', minimum: 1, default: 100 },
        lr: { type: 'number', exclusiveMinimum: 0, default: 0.1 },
        weight_decay: {
          type: 'array', items: { type: 'number', minimum: 0 }, minItems: 1,
          default: [0, 1e-5, 1e-4, 1e-3],
        },
        batch_size: { type: 'integer', minimum: 1, default: 256 },
        momentum: { type: 'number', minimum: 0, exclusiveMaximum: 1, default: 0.9 },
        schedule: { enum: ['cosine', 'constant'], default: 'cosine' },
        val_fraction: { type: 'number', minimum: 0, exclusiveMaximum: 1, default: 0.1 },
      },
    },
    fewshot: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        ways: { type: 'integer', minimum: 2, default: 5 },
        shots: { type: 'integer', minimum: 1, default: 1 },
        queries: { type: 'integer', minimum: 1, default: 15 },
        episodes: { type: 'integer', minimum: 1, default: 600 },
        classes: { type: 'array', items: { type: 'integer', minimum: 0 }, uniqueItems: true, default: [] },
      },
    },
    plots: { type: 'boolean', default: true },
    map_points: { type: 'integer', minimum: 0, default: 2000 },
    embedding: { enum: ['backbone', 'head'], default: 'backbone', description: 'retrieval / verify embed with the backbone features or the projection head output' },
    retrieval: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        query_tile: { type: 'integer', minimum: 1, default: 256 },
        max_entries: { type: 'integer', minimum: 1, default: 4194304, description: 'cap on query rows x test items per tile (floats of its similarity block)' },
        sheet_queries: { type: 'integer', minimum: 0, default: 8 },
        sheet_neighbours: { type: 'integer', minimum: 1, default: 8 },
      },
    },
    verify: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        far: { type: 'number', exclusiveMinimum: 0, maximum: 1, default: 0.001 },
        max_pairs: { type: 'integer', minimum: 2, default: 200000 },
      },
    },
  },
} as const;
