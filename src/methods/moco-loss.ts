// The two forms of MoCo's contrastive loss. Queries and keys arrive unnormalized
// and are compared by cosine similarity.
import * as tf from '@tensorflow/tfjs';
import { rowLogSumExp } from '../losses/logsumexp.ts';
import { infoNceLoss, l2Normalize } from '../losses/ntxent.ts';

/**
 * MoCo v1/v2: each query's positive is its own key, its negatives the K queued
 * keys (already unit length); cross entropy over [1 + K] logits / T.
 */
export function queueContrastiveLoss(q: tf.Tensor2D, k: tf.Tensor2D, queue: tf.Tensor2D, temperature: number): tf.Scalar {
  return tf.tidy(() => infoNceLoss(l2Normalize(q), l2Normalize(k), queue, temperature));
}

/**
 * MoCo v3: query i against every key of the batch, its positive being key i;
 * cross entropy over N logits / T, scaled by 2T as the official code does so
 * that the gradient's size does not depend on the temperature.
 */
export function batchContrastiveLoss(q: tf.Tensor2D, k: tf.Tensor2D, temperature: number): tf.Scalar {
  return tf.tidy(() => {
    if (q.shape[0] !== k.shape[0]) throw new Error(`batchContrastiveLoss: ${q.shape[0]} queries vs ${k.shape[0]} keys`);
    const qn = l2Normalize(q);
    const kn = l2Normalize(k);
    const logits = tf.div(tf.matMul(qn, kn, false, true), temperature);
    const positives = tf.div(tf.sum(tf.mul(qn, kn), 1), temperature);
    return tf.mul(tf.mean(tf.sub(rowLogSumExp(logits as tf.Tensor2D), positives)), 2 * temperature) as tf.Scalar;
  });
}
