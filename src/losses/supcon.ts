// Supervised contrastive loss (Khosla et al. 2020, the L_out form, their eq. 2):
// every other view with the anchor's label is a positive, every other view of
// the batch is in the softmax's denominator.
import * as tf from '@tensorflow/tfjs';
import { rowLogSumExp } from './logsumexp.ts';
import { normalizeRows, pairwise } from './distances.ts';
import { checkLabels, checkTuples, labelMasks, pairMasks, zeroLoss } from './tuples.ts';
import type { MetricLoss, Stats, Tuples } from './types.ts';

/** Added (negated) to logits outside the denominator so exp underflows to exactly 0, as in ntxent.ts. */
const MASKED = 1e9;

export interface SupConOptions {
  /** Khosla et al.'s 0.1. */
  temperature?: number;
}

/**
 * For anchor i with positives P(i) and denominator set A(i) (all j != i):
 *   l_i = -1/|P(i)| sum_{p in P(i)} log( exp(s_ip / T) / sum_{a in A(i)} exp(s_ia / T) )
 * averaged over the anchors that have a positive; anchors without one are left
 * out (counted in stats). Cosine similarity only: the softmax needs one.
 *
 * Mined pairs (PML's SupConLoss semantics) replace P(i) by the mined positives
 * and A(i) by the mined positives and negatives; triplets are refused.
 */
export class SupConLoss implements MetricLoss {
  readonly name = 'supcon';
  readonly temperature: number;
  private stats: Stats = {};

  constructor(o: SupConOptions = {}) {
    this.temperature = o.temperature ?? 0.1;
    if (!(this.temperature > 0)) throw new Error(`SupConLoss: temperature must be > 0, got ${this.temperature}`);
  }

  compute(embeddings: tf.Tensor2D, labels: Int32Array, tuples?: Tuples): tf.Scalar {
    const n = embeddings.shape[0];
    checkLabels(labels, n, this.name);
    if (tuples && tuples.kind !== 'pairs') throw new Error(`${this.name}: takes labels (and optionally mined pairs), not ${tuples.kind}`);
    if (tuples) checkTuples(tuples, n, this.name);
    const masks = tuples ? pairMasks(tuples, n) : labelMasks(labels);
    const denom = new Float32Array(n * n);
    for (let i = 0; i < n * n; i++) denom[i] = masks.pos[i] || masks.neg[i] ? 1 : 0;
    const positives = new Float32Array(n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) positives[i] += masks.pos[i * n + j];
    let anchors = 0;
    let pairs = 0;
    for (const c of positives) { if (c > 0) anchors++; pairs += c; }
    this.stats = { anchors, anchors_without_positives: n - anchors, positive_pairs: pairs, empty: anchors === 0 ? 1 : 0 };
    if (anchors === 0) return zeroLoss(embeddings);
    return tf.tidy(() => {
      const logits = tf.div(pairwise(normalizeRows(embeddings), 'cosine'), this.temperature);
      const denomMask = tf.tensor2d(denom, [n, n]);
      // rowLogSumExp subtracts the row max itself; masked entries sit 1e9 below and vanish.
      const lse = rowLogSumExp(tf.sub(logits, tf.mul(tf.sub(1, denomMask), MASKED)) as tf.Tensor2D, true);
      const posMask = tf.tensor2d(masks.pos, [n, n]);
      const logProbPos = tf.sum(tf.mul(posMask, tf.sub(logits, lse)), 1);
      const count = tf.tensor1d(positives);
      const perAnchor = tf.div(logProbPos, tf.maximum(count, 1));
      const valid = tf.cast(tf.greater(count, 0), 'float32');
      return tf.div(tf.neg(tf.sum(tf.mul(perAnchor, valid))), anchors) as tf.Scalar;
    });
  }

  lastStats(): Stats { return { ...this.stats }; }
}
