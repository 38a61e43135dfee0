// Recipe section `optim`: which optimizer, its knobs, how the base learning rate
// scales with batch size, and the learning-rate schedule. Defaults follow the
// SimCLR/MoCo CIFAR recipes (SGD, lr 0.06 per 256 images, momentum 0.9, wd 5e-4, cosine).

export type OptimName = 'sgd' | 'lars' | 'adam' | 'adamw';
export type LrScaling = 'linear' | 'sqrt' | 'none';
export type LrScheduleName = 'cosine' | 'constant' | 'step';

export interface OptimConfig {
  name: OptimName;
  /** Base learning rate, before `lr_scaling` with the batch size. */
  lr: number;
  lr_scaling: LrScaling;
  /** SGD/LARS momentum (Adam uses `betas`). */
  momentum: number;
  weight_decay: number;
  nesterov: boolean;
  /**
   * Leave biases and batch-norm parameters out of weight decay (and, for LARS, out of
   * the trust-ratio adaptation). Unset means: true for lars, false for the others.
   */
  exclude_bn_bias?: boolean;
  /** LARS trust coefficient (eta). */
  trust_coefficient: number;
  betas: [number, number];
  eps: number;
  warmup_epochs: number;
  schedule: LrScheduleName;
  /** Floor of the cosine schedule (absolute, not scaled). */
  min_lr: number;
  /** Epochs at which the 'step' schedule multiplies the lr by `gamma`. */
  milestones: number[];
  gamma: number;
}

/** JSON Schema (Ajv 8, run with useDefaults) for the `optim` section. */
export const optimSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    name: { enum: ['sgd', 'lars', 'adam', 'adamw'], default: 'sgd', description: 'optimizer' },
    lr: { type: 'number', exclusiveMinimum: 0, default: 0.06, description: 'base lr, scaled by lr_scaling' },
    lr_scaling: {
      enum: ['linear', 'sqrt', 'none'], default: 'linear', description: 'linear: lr*batch/256; sqrt: lr*sqrt(batch)',
    },
    momentum: { type: 'number', minimum: 0, exclusiveMaximum: 1, default: 0.9, description: 'sgd / lars' },
    weight_decay: { type: 'number', minimum: 0, default: 5e-4 },
    nesterov: { type: 'boolean', default: false },
    // No default on purpose: the right one depends on `name` (see excludesBnBias).
    exclude_bn_bias: { type: 'boolean', description: 'no decay (lars: no adaptation) for biases and batch norm; default true for lars only' },
    trust_coefficient: { type: 'number', exclusiveMinimum: 0, default: 0.001, description: 'lars eta' },
    betas: {
      type: 'array',
      items: { type: 'number', minimum: 0, exclusiveMaximum: 1 },
      minItems: 2,
      maxItems: 2,
      default: [0.9, 0.999],
    },
    eps: { type: 'number', exclusiveMinimum: 0, default: 1e-8, description: 'adam / adamw' },
    warmup_epochs: { type: 'number', minimum: 0, default: 0 },
    schedule: { enum: ['cosine', 'constant', 'step'], default: 'cosine' },
    min_lr: { type: 'number', minimum: 0, default: 0, description: 'cosine floor (absolute)' },
    milestones: { type: 'array', items: { type: 'number', minimum: 0 }, default: [], description: 'step schedule: epochs' },
    gamma: { type: 'number', exclusiveMinimum: 0, default: 0.1, description: 'step schedule: lr factor per milestone' },
  },
} as const;

/** Whether biases / batch-norm parameters are left out of decay (and LARS adaptation). */
export function excludesBnBias(cfg: Pick<OptimConfig, 'name' | 'exclude_bn_bias'>): boolean {
  return cfg.exclude_bn_bias ?? cfg.name === 'lars';
}
