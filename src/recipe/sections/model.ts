// Recipe section `model`: the backbone and the projection head.
export interface ModelConfig {
  backbone: 'resnet' | 'resnet18';
  /** Stage widths for `resnet` (ignored by resnet18). */
  widths: number[];
  /** Basic blocks per stage for `resnet` (ignored by resnet18). */
  blocks: number[];
  head_hidden: number;
  /** Linear layers in the projection head (2: SimCLR / MoCo; 3: Barlow Twins, VICReg); every layer but the last is head_hidden wide. */
  head_layers: number;
  /** Width of the head's output; 0 = no head (metric-learning methods then embed the backbone's features directly). */
  head_out: number;
  head_batch_norm: boolean;
  /** Start from these backbone weights: a checkpoint (run folder, ckpt/ or ckpt/step-*) or an exported backbone folder; '' = random init. */
  init: string;
}

export const modelSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    backbone: { enum: ['resnet', 'resnet18'], default: 'resnet' },
    widths: { type: 'array', items: { type: 'integer', minimum: 1 }, minItems: 1, default: [32, 64, 128] },
    blocks: { type: 'array', items: { type: 'integer', minimum: 1 }, minItems: 1, default: [1, 1, 1] },
    head_hidden: { type: 'integer', minimum: 1, default: 128 },
    head_layers: { type: 'integer', minimum: 1, default: 2, description: 'linear layers in the projection head (1 = a single linear map)' },
    head_out: { type: 'integer', minimum: 0, default: 64, description: '0 = no head (metric learning embeds the backbone features)' },
    head_batch_norm: { type: 'boolean', default: true },
    init: { type: 'string', default: '', description: 'backbone weights to start from: a checkpoint or an exported backbone folder' },
  },
} as const;
