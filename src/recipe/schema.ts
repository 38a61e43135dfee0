// The whole recipe schema, assembled from one schema per section so each part of
// the system owns the knobs it reads.
import { augmentSchema } from './sections/augment.ts';
import { dataSchema } from './sections/data.ts';
import { evalSchema } from './sections/eval.ts';
import { logSchema } from './sections/log.ts';
import { methodSchema } from './sections/method.ts';
import { modelSchema } from './sections/model.ts';
import { optimSchema } from './sections/optim.ts';
import { trainSchema } from './sections/train.ts';
import type { AugmentSectionConfig } from './sections/augment.ts';
import type { DataConfig } from './sections/data.ts';
import type { EvalConfig } from './sections/eval.ts';
import type { LogConfig } from './sections/log.ts';
import type { MethodConfig } from './sections/method.ts';
import type { ModelConfig } from './sections/model.ts';
import type { OptimConfig } from './sections/optim.ts';
import type { TrainConfig } from './sections/train.ts';


export interface Recipe {
  /** Names the run folder (`checkpoints/<name>-<timestamp>`). */
  name: string;
  data: DataConfig;
  augment: AugmentSectionConfig;
  model: ModelConfig;
  method: MethodConfig;
  optim: OptimConfig;
  train: TrainConfig;
  eval: EvalConfig;
  log: LogConfig;
}

export const recipeSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    name: { type: 'string', pattern: '^[A-Za-z0-9._-]+$', default: 'run' },
    data: dataSchema,
    augment: augmentSchema,
    model: modelSchema,
    method: methodSchema,
    optim: optimSchema,
    train: trainSchema,
    eval: evalSchema,
    log: logSchema,
  },
} as const;
