// NT-Xent (normalized temperature-scaled cross entropy), SimCLR's loss.
// With in-batch negatives: the 2N views of a batch, each view's positive is the
// other view of its image and its negatives are the other 2N-2 views.
import * as tf from '@tensorflow/tfjs';
import { rowLogSumExp } from './logsumexp.ts';

/** Large negative added to self-similarities so they vanish from the softmax (exp underflows to 0). */
const SELF_MASK = 1e9;

export function l2Normalize(z: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.div(z, tf.maximum(tf.norm(z, 'euclidean', 1, true), 1e-12)) as tf.Tensor2D);
}

/**
 * Mean NT-Xent over all 2N views. z1[i] and z2[i] are the projections of the two
 * views of image i (unnormalized; cosine similarity is taken here).
 */
export function ntXentLoss(z1: tf.Tensor2D, z2: tf.Tensor2D, temperature: number): tf.Scalar {
  return tf.tidy(() => {
    const n = z1.shape[0];
    if (z2.shape[0] !== n) throw new Error(`ntXentLoss: views have ${n} and ${z2.shape[0]} rows`);
    const z = l2Normalize(tf.concat([z1, z2], 0));
    const logits = tf.div(tf.matMul(z, z, false, true), temperature);
    const masked = tf.sub(logits, tf.mul(tf.eye(2 * n), SELF_MASK));
    // The positive of row i is row (i + N) mod 2N: the same pairs, in both orders.
    const a = z.slice([0, 0], [n, -1]);
    const b = z.slice([n, 0], [n, -1]);
    const pos = tf.div(tf.sum(tf.mul(a, b), 1), temperature);
    const positives = tf.concat([pos, pos], 0);
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
