// Recipe section `log`: TensorBoard and how often to write.
export interface LogConfig {
  tensorboard: boolean;
  /** Scalars every N steps. */
  every: number;
  /** Weight histograms every N steps (0 = never). */
  histogram_every: number;
  /** Image summary of augmented views every N epochs (0 = never). */
  images_every: number;
}

export const logSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    tensorboard: { type: 'boolean', default: true },
    every: { type: 'integer', minimum: 1, default: 10 },
    histogram_every: { type: 'integer', minimum: 0, default: 0 },
    images_every: { type: 'integer', minimum: 0, default: 1 },
  },
} as const;
