// Recipe section `train`: how long, how big, which seed, how often to checkpoint.
export interface TrainConfig {
  epochs: number;
  /** If > 0, stop after this many steps (overrides epochs for the end; the schedule still spans `epochs`). */
  max_steps: number;
  batch_size: number;
  drop_last: boolean;
  seed: number;
  /** Write a checkpoint every N epochs (the last one is always written). */
  checkpoint_every: number;
  /** Keep the newest N checkpoints. */
  keep_checkpoints: number;
  /** Where the two views are made: a worker thread one step ahead, the main thread, or auto (worker for runs of >= 100 steps). */
  view_thread: 'auto' | 'worker' | 'main';
}

export const trainSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    epochs: { type: 'integer', minimum: 1, default: 10 },
    max_steps: { type: 'integer', minimum: 0, default: 0 },
    batch_size: { type: 'integer', minimum: 2, default: 256 },
    drop_last: { type: 'boolean', default: true },
    seed: { type: 'integer', minimum: 0, default: 0 },
    checkpoint_every: { type: 'integer', minimum: 1, default: 1 },
    keep_checkpoints: { type: 'integer', minimum: 1, default: 3 },
    view_thread: { enum: ['auto', 'worker', 'main'], default: 'auto', description: 'where the two views are made: worker (one step ahead, native/cpu), main, or auto (worker for runs of >= 100 steps)' },
  },
} as const;
