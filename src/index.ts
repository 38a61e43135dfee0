// The TypeScript API: the same pieces the `selfsup` command uses.
export { useBackend, probeBackends, type BackendName, type BackendReport } from './backend/index.ts';
export { loadRecipe, validateRecipe, recipeToYaml, type Recipe } from './recipe/index.ts';
export { pretrain, type PretrainOptions, type PretrainResult } from './train/trainer.ts';
export { loadCheckpoint, restoreVariables } from './train/checkpoint.ts';
export { openSplits, closeSplits, Loader } from './data/index.ts';
export type { Dataset, ImageBatch, Splits } from './data/types.ts';
export { buildMethod, backboneFromRecipe, type Method, type StepContext } from './methods/index.ts';
export { SimCLR } from './methods/simclr.ts';
export { buildBackbone, ResNet, type BackboneConfig } from './models/resnet.ts';
export { buildMlpHead, buildProjectionHead } from './models/heads.ts';
export type { Backbone, Module, NamedVariable } from './models/module.ts';
export { ntXentLoss, infoNceLoss, l2Normalize } from './losses/ntxent.ts';
export { createOptimizer, lrScheduleFor, momentumAt, scaledLr, type Optimizer } from './optim/index.ts';
export { TwoViewAugmenter, resolveAugment } from '../augment/index.ts';
export { knnClassify } from './eval/knn.ts';
export { extractFeatures } from './eval/features.ts';
export { Rng } from './util/rng.ts';
export { UserError } from './util/errors.ts';
