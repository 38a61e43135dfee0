// Multi-similarity loss (Wang et al. 2019, "Multi-Similarity Loss with General
// Pair Weighting"), as pytorch-metric-learning's MultiSimilarityLoss: a soft
// (log-sum-exp) penalty on each anchor's positives below `base` and negatives
// above it, the harder pairs weighted exponentially more.
import * as tf from '@tensorflow/tfjs';
import { rowLogSumExp } from './logsumexp.ts';
import { isSimilarity, normalizeRows, pairwise } from './distances.ts';
import { asPairs, checkLabels, checkTuples, labelMasks, pairMasks, zeroLoss } from './tuples.ts';
import type { DistanceName, MetricLoss, Stats, Tuples } from './types.ts';

/** Exponents of masked-out pairs sit this far below 0 so exp() underflows to exactly 0. */
const MASKED = 1e9;

export interface MultiSimilarityOptions {
  distance?: DistanceName;
  /** Weight of positive pairs (PML default 2). */
  alpha?: number;
  /** Weight of negative pairs (PML default 50). */
  beta?: number;
  /** Similarity (or distance) the pairs are measured from (PML default 0.5). */
  base?: number;
}

/**
 * Per anchor i, over its positives P(i) and negatives N(i) (cosine):
 *   1/alpha log(1 + sum_P exp(-alpha (s - base))) + 1/beta log(1 + sum_N exp(beta (s - base)))
 * (l2 flips the signs: exp(alpha (d - base)) and exp(beta (base - d)), as PML).
 * log(1 + sum exp(x)) is taken as logsumexp([0, x...]): beta = 50 overflows
 * float32 if done naively. Averaged over all N anchors (PML's MeanReducer; an
 * anchor with no pair adds 0). Mined pairs (or triplets, split into pairs)
 * replace P and N; a pair mined twice counts once. No positive pair at all is
 * empty: 0, `empty: 1`.
 */
export class MultiSimilarityLoss implements MetricLoss {
  readonly name = 'multisimilarity';
  readonly distance: DistanceName;
  readonly alpha: number;
  readonly beta: number;
  readonly base: number;
  private stats: Stats = {};

  constructor(o: MultiSimilarityOptions = {}) {
    this.distance = o.distance ?? 'cosine';
    this.alpha = o.alpha ?? 2;
    this.beta = o.beta ?? 50;
    this.base = o.base ?? 0.5;
    if (!(this.alpha > 0) || !(this.beta > 0)) throw new Error(`MultiSimilarityLoss: alpha and beta must be > 0, got ${this.alpha}, ${this.beta}`);
  }

  compute(embeddings: tf.Tensor2D, labels: Int32Array, tuples?: Tuples): tf.Scalar {
    const n = embeddings.shape[0];
    checkLabels(labels, n, this.name);
    if (tuples) checkTuples(tuples, n, this.name);
    const masks = tuples ? pairMasks(asPairs(tuples), n) : labelMasks(labels);
    let pos = 0;
    let neg = 0;
    let anchors = 0;
    for (let i = 0; i < n; i++) {
      let any = false;
      for (let j = 0; j < n; j++) {
        if (masks.pos[i * n + j]) { pos++; any = true; }
        if (masks.neg[i * n + j]) { neg++; any = true; }
      }
      if (any) anchors++;
    }
    this.stats = { pos_pairs: pos, neg_pairs: neg, anchors, empty: pos === 0 ? 1 : 0 };
    if (pos === 0) return zeroLoss(embeddings);
    // "How similar" relative to base: s - base for cosine, base - d for l2.
    const s = isSimilarity(this.distance) ? 1 : -1;
    return tf.tidy(() => {
      const m = pairwise(normalizeRows(embeddings), this.distance);
      const centred = tf.mul(tf.sub(m, this.base), s);
      const posTerm = this.softPlusSum(tf.mul(centred, -this.alpha), masks.pos, n);
      const negTerm = this.softPlusSum(tf.mul(centred, this.beta), masks.neg, n);
      return tf.mean(tf.add(tf.div(posTerm, this.alpha), tf.div(negTerm, this.beta))) as tf.Scalar;
    });
  }

  lastStats(): Stats { return { ...this.stats }; }

  /** Per row: log(1 + sum over the mask of exp(x)), as logsumexp([0, x_masked...]). */
  private softPlusSum(x: tf.Tensor2D, mask: Float32Array, n: number): tf.Tensor1D {
    const keep = tf.tensor2d(mask, [n, n]);
    const masked = tf.sub(tf.mul(x, keep), tf.mul(tf.sub(1, keep), MASKED));
    return rowLogSumExp(tf.concat([tf.zeros([n, 1]), masked], 1) as tf.Tensor2D) as tf.Tensor1D;
  }
}
