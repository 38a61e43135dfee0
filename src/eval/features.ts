// Frozen-backbone features for evaluation: the backbone runs in eval mode
// (batch-norm running statistics, no updates) over a labelled split, in
// batches, with only the recipe's deterministic eval transform (resize /
// normalize) applied, never the pretraining augmentations.
import * as tf from '@tensorflow/tfjs';
import type { Module } from '../models/module.ts';
import type { Dataset, ImageBatch } from '../data/types.ts';
import { l2normalize } from './knn.ts';
import { yieldToSignals } from '../train/signals.ts';
import { hookPoint } from '../util/test-hooks.ts';

export { l2normalize };

/** Turns a uint8 HWC batch into the float NHWC tensor the backbone expects. */
export type EvalTransform = (batch: ImageBatch) => tf.Tensor4D;

export interface ExtractOptions {
  batchSize: number;
  /** Return L2-normalized rows (what k-NN wants); the linear probe uses raw features. */
  normalize: boolean;
  /** Called after each batch with the number of items done so far. */
  onProgress?: (done: number) => void;
}

export interface FeatureSet {
  /** Row-major, `dim` floats per item, in dataset order. */
  features: Float32Array;
  dim: number;
  n: number;
  /** The dataset's labels, when it has them. */
  labels?: Int32Array;
}

/** Scales uint8 pixels to [0, 1]; the fallback when the recipe defines no eval transform. */
export const scaleToUnit: EvalTransform = (b) =>
  tf.tidy(() => tf.tensor4d(b.data, [b.n, b.height, b.width, b.channels], 'int32').toFloat().div(255) as tf.Tensor4D);

/**
 * Runs `backbone.apply(x, false)` over every item of `dataset`, in order.
 * Any backbone output rank is flattened to [n, dim] (a pooled backbone gives [n, dim] already).
 */
export async function extractFeatures(
  backbone: Module, dataset: Dataset, transform: EvalTransform, opts: ExtractOptions,
): Promise<FeatureSet> {
  const bs = Math.max(1, Math.floor(opts.batchSize));
  const n = dataset.n;
  let features: Float32Array = new Float32Array(0);
  let dim = 0;
  hookPoint('phase-features');
  for (let start = 0; start < n; start += bs) {
    const count = Math.min(bs, n - start);
    const idx = Array.from({ length: count }, (_, i) => start + i);
    const batch = await dataset.read(idx);
    const out = tf.tidy(() => {
      const y = backbone.apply(transform(batch), false);
      return y.reshape([count, -1]) as tf.Tensor2D;
    });
    const rows = (await out.data()) as Float32Array;
    const d = out.shape[1];
    out.dispose();
    if (start === 0) {
      dim = d;
      features = new Float32Array(n * dim);
    } else if (d !== dim) {
      throw new Error(`extractFeatures: feature width changed from ${dim} to ${d} at item ${start}`);
    }
    features.set(rows, start * dim);
    opts.onProgress?.(start + count);
    hookPoint('batch-features');
    // A bank of 60k images takes minutes: Ctrl-C must not wait for the end.
    await yieldToSignals('feature extraction');
  }
  if (opts.normalize && dim > 0) features = l2normalize(features, dim);
  return { features, dim, n, labels: dataset.labels };
}
