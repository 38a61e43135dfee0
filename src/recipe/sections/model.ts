// Recipe section `model`: the backbone and the projection head.
export interface ModelConfig {
  backbone: 'resnet' | 'resnet18';
  /** Stage widths for `resnet` (ignored by resnet18). */
  widths: number[];
  /** Basic blocks per stage for `resnet` (ignored by resnet18). */
  blocks: number[];
  head_hidden: number;
  head_out: number;
  head_batch_norm: boolean;
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
    head_out: { type: 'integer', minimum: 1, default: 64 },
    head_batch_norm: { type: 'boolean', default: true },
  },
} as const;
