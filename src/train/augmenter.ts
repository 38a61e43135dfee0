// Connects the recipe to the augmentation pipeline in augment/: the two-view
// augmenter for pretraining and the deterministic transform for evaluation.
import type * as tf from '@tensorflow/tfjs';
import { TwoViewAugmenter, resolveAugment } from '../../augment/index.ts';
import type { ImageBatch } from '../data/types.ts';
import type { EvalTransform } from '../eval/features.ts';
import type { Recipe } from '../recipe/index.ts';
import type { Rng } from '../util/rng.ts';

export interface Augmenter {
  views(batch: ImageBatch, rng: Rng): { view1: tf.Tensor4D; view2: tf.Tensor4D };
  /** The normalization the views carry (to turn them back into pictures). */
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

export function buildAugmenter(r: Recipe, channels: number): { augmenter: Augmenter; evalTransform: EvalTransform } {
  const aug = new TwoViewAugmenter(resolveAugment(r.augment), { outSize: r.data.image_size, channels: channels as 1 | 3 });
  return { augmenter: aug, evalTransform: (b) => aug.evalTransform(b) };
}
