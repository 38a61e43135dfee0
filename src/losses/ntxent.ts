// NT-Xent (normalized temperature-scaled cross entropy), SimCLR's loss.
// With in-batch negatives: the 2N views of a batch, each view's positive is the
// other view of its image and its negatives are the other 2N-2 views.
import * as tf from '@tensorflow/tfjs';
import { rowLogSumExp } from './logsumexp.ts';

/** Large negative added to self-similarities so they vanish from the softmax (exp underflows to 0). */
const SELF_MASK = 1e9;

export function l2Normalize(z: tf.Tensor2D): tf.Tensor2D {
  // sqrt(sum(square)), not tf.norm: the latter's pow(abs(x), 2) and its gradient are
  // several generic cpu kernels (Abs, Pow, and Pow's gradient) for the same value.
  return tf.tidy(() => tf.div(z, tf.maximum(tf.sqrt(tf.sum(tf.square(z), 1, true)), 1e-12)) as tf.Tensor2D);
}

/**
 * Mean NT-Xent over all 2N views. z1[i] and z2[i] are the projections of the two
 * views of image i (unnormalized; cosine similarity is taken here).
 */
export function ntXentLoss(z1: tf.Tensor2D, z2: tf.Tensor2D, temperature: number): tf.Scalar {
  if (z2.shape[0] !== z1.shape[0]) throw new Error(`ntXentLoss: views have ${z1.shape[0]} and ${z2.shape[0]} rows`);
  return tf.tidy(() => ntXentLossStacked(tf.concat([z1, z2], 0), temperature));
}

/**
 * ntXentLoss of both views' projections stacked as [2N, d]: rows i and i + N are
 * the two views of image i. What SimCLR calls, on its one forward pass over both
 * views: no slicing apart and concatenating back (whose gradients are a pad and
 * a split of generic cpu kernels, ~1.5 ms each at N = 128).
 */
export function ntXentLossStacked(zBoth: tf.Tensor2D, temperature: number): tf.Scalar {
  const rows = zBoth.shape[0];
  if (rows % 2 !== 0) throw new Error(`ntXentLossStacked: ${rows} rows is not two views of N images`);
  const n = rows / 2;
  return tf.tidy(() => {
    const z = l2Normalize(zBoth);
    const logits = tf.div(tf.matMul(z, z, false, true), temperature);
    const masked = tf.sub(logits, tf.mul(tf.eye(rows), SELF_MASK));
    // The positive of row i is column (i + N) mod 2N of the same similarity matrix.
    // (The mask is written here, not tf.oneHot: the cpu OneHot kernel took 3 ms at
    // 2N = 256, and tfjs-wasm's float32 OneHot writes integer bits.)
    const pairMask = new Float32Array(rows * rows);
    for (let i = 0; i < rows; i++) pairMask[i * rows + ((i + n) % rows)] = 1;
    const positives = tf.sum(tf.mul(logits, tf.tensor2d(pairMask, [rows, rows])), 1);
    return tf.mean(tf.sub(rowLogSumExp(masked as tf.Tensor2D), positives)) as tf.Scalar;
  });
}

/**
 * InfoNCE with explicit negatives (MoCo): queries q [N, d] against their keys
 * k [N, d] (positives) and a bank of negatives [K, d]; all assumed L2-normalized.
 * Cross entropy with the positive at index 0, as in MoCo's pseudocode.
 */
export function infoNceLoss(q: tf.Tensor2D, k: tf.Tensor2D, negatives: tf.Tensor2D, temperature: number): tf.Scalar {
  return tf.tidy(() => {
    const lPos = tf.sum(tf.mul(q, k), 1, true);
    const lNeg = tf.matMul(q, negatives, false, true);
    const logits = tf.div(tf.concat([lPos, lNeg], 1), temperature);
    return tf.mean(tf.sub(rowLogSumExp(logits as tf.Tensor2D), tf.squeeze(tf.div(lPos, temperature), [1]))) as tf.Scalar;
  });
}
