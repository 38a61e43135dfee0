// Two-view augmentation for self-supervised pretraining (SimCLR, MoCo v2/v3).
// resolveAugment(recipe.augment) -> new TwoViewAugmenter(resolved, { outSize, channels }) -> views(batch, rng).
export type { AugmentConfig, AugmentPreset, AugmentViewOverrides, ImageBatchLike, Range, ResolvedAugment, ViewConfig } from './config.ts';
export { resolveAugment, type AugmentInput } from './resolve.ts';
export { presetViews } from './presets.ts';
export { TwoViewAugmenter, evalTransform, type AugmenterOptions, type TwoViews } from './augmenter.ts';
export { sampleViewParams, sampleCrop, centerCrop, identityParams, type ViewParams } from './params.ts';
export { augmentSchema } from '../src/recipe/sections/augment.ts';
