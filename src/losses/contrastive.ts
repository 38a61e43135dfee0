// Contrastive (pair margin) loss, the siamese objective of Hadsell, Chopra and
// LeCun (2006), as pytorch-metric-learning's ContrastiveLoss: positive pairs are
// pulled inside pos_margin, negative pairs pushed beyond neg_margin.
import * as tf from '@tensorflow/tfjs';
import { gatherEntries, isSimilarity, normalizeRows, pairwise, withoutTape } from './distances.ts';
import { allPairs, asPairs, checkLabels, checkTuples, flatIndex, zeroLoss } from './tuples.ts';
import type { DistanceName, MetricLoss, Stats, Tuples } from './types.ts';

/** PML's margins: l2 pulls positives to 0 and pushes negatives past 1; cosine pulls positives to 1 and negatives below 0. */
export const CONTRASTIVE_DEFAULT_MARGINS: Readonly<Record<DistanceName, { pos: number; neg: number }>> = {
  l2: { pos: 0, neg: 1 },
  cosine: { pos: 1, neg: 0 },
};

export interface ContrastiveOptions {
  distance?: DistanceName;
  /** Default: CONTRASTIVE_DEFAULT_MARGINS[distance].pos. */
  posMargin?: number;
  /** Default: CONTRASTIVE_DEFAULT_MARGINS[distance].neg. */
  negMargin?: number;
}

/**
 * Per pair: l2 -> relu(d - pos_margin) for positives, relu(neg_margin - d) for
 * negatives; cosine -> relu(pos_margin - s) and relu(s - neg_margin).
 *
 * Reduction (PML's default AvgNonZeroReducer, applied per sub-loss as PML does):
 * the positive losses are averaged over the positive pairs with a non-zero loss,
 * the negative losses over the negative pairs with a non-zero loss, and the two
 * means are added. Averaging over the non-zero pairs keeps the gradient from
 * fading as most pairs become satisfied.
 *
 * Without tuples every ordered pair of the batch is used; triplets are split
 * into their (a, p) and (a, n) pairs, as PML does. A batch (or mined set) with no
 * positive pair is empty: 0, `empty: 1` (negatives alone carry no similarity
 * signal; PML would still push them apart).
 */
export class ContrastiveLoss implements MetricLoss {
  readonly name = 'contrastive';
  readonly distance: DistanceName;
  readonly posMargin: number;
  readonly negMargin: number;
  private stats: Stats = {};

  constructor(o: ContrastiveOptions = {}) {
    this.distance = o.distance ?? 'l2';
    this.posMargin = o.posMargin ?? CONTRASTIVE_DEFAULT_MARGINS[this.distance].pos;
    this.negMargin = o.negMargin ?? CONTRASTIVE_DEFAULT_MARGINS[this.distance].neg;
  }

  compute(embeddings: tf.Tensor2D, labels: Int32Array, tuples?: Tuples): tf.Scalar {
    const n = embeddings.shape[0];
    checkLabels(labels, n, this.name);
    const pairs = tuples ? asPairs(tuples) : allPairs(labels);
    checkTuples(pairs, n, this.name);
    const posPairs = pairs.a1.length;
    const negPairs = pairs.a2.length;
    if (posPairs === 0) {
      this.stats = { pos_pairs: 0, neg_pairs: negPairs, nonzero_pos: 0, nonzero_neg: 0, empty: 1 };
      return zeroLoss(embeddings);
    }
    const sim = isSimilarity(this.distance);
    let nonzero: Float32Array | undefined;
    const loss = tf.tidy(() => {
      const m = pairwise(normalizeRows(embeddings), this.distance);
      const pos = gatherEntries(m, flatIndex(pairs.a1, pairs.p, n));
      const posLoss = tf.relu(sim ? tf.sub(this.posMargin, pos) : tf.sub(pos, this.posMargin));
      const parts = [posLoss];
      if (negPairs > 0) {
        const neg = gatherEntries(m, flatIndex(pairs.a2, pairs.n, n));
        parts.push(tf.relu(sim ? tf.sub(neg, this.negMargin) : tf.sub(this.negMargin, neg)));
      }
      // The non-zero counts are constants of the reduction (no gradient through a comparison).
      nonzero = withoutTape(() => tf.tidy(() => tf.stack(parts.map((l) => tf.sum(tf.cast(tf.greater(l, 0), 'float32')))).dataSync() as Float32Array));
      const means = parts.map((l, i) => tf.div(tf.sum(l), Math.max(nonzero![i], 1)));
      return tf.addN(means) as tf.Scalar;
    });
    this.stats = {
      pos_pairs: posPairs, neg_pairs: negPairs,
      nonzero_pos: nonzero![0], nonzero_neg: negPairs > 0 ? nonzero![1] : 0, empty: 0,
    };
    return loss;
  }

  lastStats(): Stats { return { ...this.stats }; }
}
