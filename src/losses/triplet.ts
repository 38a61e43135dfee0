// Triplet margin loss (Weinberger & Saul 2009; Schroff et al. 2015, FaceNet), as
// pytorch-metric-learning's TripletMarginLoss: an anchor's positive must be
// closer than its negative by `margin`.
import * as tf from '@tensorflow/tfjs';
import { gatherEntries, isSimilarity, normalizeRows, pairwise, withoutTape } from './distances.ts';
import { checkLabels, checkTuples, countAllTriplets, flatIndex, zeroLoss } from './tuples.ts';
import type { DistanceName, MetricLoss, Stats, Triplets, Tuples } from './types.ts';

export interface TripletOptions {
  distance?: DistanceName;
  /** PML's default 0.05. */
  margin?: number;
  /** l2 only: squared Euclidean distances (FaceNet). */
  squared?: boolean;
}

/**
 * Per triplet: relu(d_ap - d_an + margin) for l2, relu(s_an - s_ap + margin) for
 * cosine. Reduction: the mean over triplets with a non-zero loss (PML's default
 * AvgNonZeroReducer), so the loss does not fade as easy triplets pile up.
 *
 * With mined triplets the two distances of each are gathered from the N x N
 * matrix by flat index. Without tuples every valid triplet of the batch is used
 * (PML's default) without materializing them: see allTripletMargins. (PML
 * builds N x N x N tensors here; a chunked tensor pass avoids the memory but
 * not the N^3 work: 5.3 s forward for 1024 rows (64 classes) on the cpu backend,
 * against 0.15 s for this host pass.)
 */
export class TripletMarginLoss implements MetricLoss {
  readonly name = 'triplet';
  readonly distance: DistanceName;
  readonly margin: number;
  readonly squared: boolean;
  private stats: Stats = {};

  constructor(o: TripletOptions = {}) {
    this.distance = o.distance ?? 'l2';
    this.margin = o.margin ?? 0.05;
    this.squared = o.squared ?? false;
    if (this.squared && this.distance !== 'l2') throw new Error('TripletMarginLoss: squared applies to the l2 distance only');
  }

  compute(embeddings: tf.Tensor2D, labels: Int32Array, tuples?: Tuples): tf.Scalar {
    const n = embeddings.shape[0];
    checkLabels(labels, n, this.name);
    if (tuples && tuples.kind !== 'triplets') throw new Error(`${this.name}: needs triplets, got ${tuples.kind} (use a triplet miner)`);
    if (tuples) checkTuples(tuples, n, this.name);
    const total = tuples ? tuples.anchors.length : countAllTriplets(labels);
    if (total === 0) {
      this.stats = { triplets: 0, nonzero: 0, empty: 1 };
      return zeroLoss(embeddings);
    }
    return tuples ? this.mined(embeddings, tuples) : this.allTriplets(embeddings, labels, total);
  }

  lastStats(): Stats { return { ...this.stats }; }

  /** +1 for distances (d_ap - d_an), -1 for similarities (s_an - s_ap). */
  private get sign(): number { return isSimilarity(this.distance) ? -1 : 1; }

  private distances(embeddings: tf.Tensor2D): tf.Tensor2D {
    return pairwise(normalizeRows(embeddings), this.distance, this.squared);
  }

  private mined(embeddings: tf.Tensor2D, t: Triplets): tf.Scalar {
    const n = embeddings.shape[0];
    let nonzero = 0;
    const loss = tf.tidy(() => {
      const m = this.distances(embeddings);
      const ap = gatherEntries(m, flatIndex(t.anchors, t.positives, n));
      const an = gatherEntries(m, flatIndex(t.anchors, t.negatives, n));
      const per = tf.relu(tf.add(tf.mul(tf.sub(ap, an), this.sign), this.margin));
      // The non-zero count is a constant of the reduction (no gradient through a comparison).
      nonzero = withoutTape(() => tf.tidy(() => tf.sum(tf.cast(tf.greater(per, 0), 'int32')).dataSync()[0]));
      return tf.div(tf.sum(per), Math.max(nonzero, 1)) as tf.Scalar;
    });
    this.stats = { triplets: t.anchors.length, nonzero, empty: 0 };
    return loss;
  }

  private allTriplets(embeddings: tf.Tensor2D, labels: Int32Array, total: number): tf.Scalar {
    const n = embeddings.shape[0];
    let nonzero = 0;
    const loss = tf.tidy(() => {
      const d = this.distances(embeddings);
      const op = tf.customGrad(((dm: tf.Tensor, save: tf.GradSaveFunc) => {
        // The forward of a custom-gradient op runs untaped: reading the matrix here keeps nothing for backprop.
        const r = allTripletMargins(dm.dataSync() as Float32Array, labels, this.sign, this.margin);
        nonzero = r.active;
        save([tf.tensor2d(r.weights, [n, n])]);
        return { value: tf.scalar(r.active > 0 ? r.sum / r.active : 0), gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, saved[0]) };
      }) as Parameters<typeof tf.customGrad>[0]);
      return op(d) as tf.Scalar;
    });
    this.stats = { triplets: total, nonzero, empty: 0 };
    return loss;
  }
}

/**
 * Every valid triplet's margin t = sign (D[a,p] - D[a,n]) + margin at once,
 * from the host copy of the N x N matrix, without enumerating triplets: per
 * anchor, its negatives' values sorted with prefix sums give, for each positive,
 * how many negatives are active (t > 0) and their summed margins by binary
 * search; the positives' thresholds sorted give, for each negative, how many
 * positives it is active with. O(N^2 log N) time, O(N^2) memory (no N^3 tensor,
 * not even in chunks). Returns the sum and count of active margins and
 * d(mean active margin)/dD as an N x N array: each active triplet adds sign to
 * D[a,p] and -sign to D[a,n], over the active count (the mean over the active
 * set is linear in D once the set is fixed, so these weights are its gradient).
 */
export function allTripletMargins(d: Float32Array, labels: Int32Array, sign: number, margin: number): { sum: number; active: number; weights: Float32Array } {
  const n = labels.length;
  const counts = new Float64Array(n * n);
  const negF = new Float64Array(n);
  const prefix = new Float64Array(n + 1);
  const thresholds = new Float64Array(n);
  let sum = 0;
  let active = 0;
  for (let a = 0; a < n; a++) {
    const row = a * n;
    // Farness f = sign * D (larger = farther); a triplet is active when f_an < f_ap + margin.
    let kn = 0;
    for (let j = 0; j < n; j++) if (labels[j] !== labels[a]) negF[kn++] = sign * d[row + j];
    if (kn === 0) continue;
    const negSorted = negF.subarray(0, kn).sort();
    for (let i = 0; i < kn; i++) prefix[i + 1] = prefix[i] + negSorted[i];
    let kp = 0;
    for (let p = 0; p < n; p++) {
      if (p === a || labels[p] !== labels[a]) continue;
      const t = sign * d[row + p] + margin;
      const c = countBelow(negSorted, t);
      sum += c * t - prefix[c];
      active += c;
      counts[row + p] += sign * c;
      thresholds[kp++] = t;
    }
    if (kp === 0) continue;
    const thrSorted = thresholds.subarray(0, kp).sort();
    for (let j = 0; j < n; j++) {
      if (labels[j] === labels[a]) continue;
      // Positives whose threshold lies above this negative's farness.
      counts[row + j] -= sign * (kp - countAtMost(thrSorted, sign * d[row + j]));
    }
  }
  const weights = new Float32Array(n * n);
  const scale = 1 / Math.max(active, 1);
  for (let i = 0; i < n * n; i++) weights[i] = counts[i] * scale;
  return { sum, active, weights };
}

/** Entries of ascending `xs` strictly below x. */
function countBelow(xs: Float64Array, x: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (xs[mid] < x) lo = mid + 1; else hi = mid; }
  return lo;
}

/** Entries of ascending `xs` at most x. */
function countAtMost(xs: Float64Array, x: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (xs[mid] <= x) lo = mid + 1; else hi = mid; }
  return lo;
}
