// Triplet margin loss (Weinberger & Saul 2009; Schroff et al. 2015, FaceNet), as
// pytorch-metric-learning's TripletMarginLoss: an anchor's positive must be
// closer than its negative by `margin`.
import * as tf from '@tensorflow/tfjs';
import { isSimilarity, normalizeRows, pairwise, withoutTape } from './distances.ts';
import { allPairs, checkLabels, checkTuples, countAllTriplets, flatIndex, labelMasks, zeroLoss } from './tuples.ts';
import type { DistanceName, MetricLoss, Stats, Triplets, Tuples } from './types.ts';

/**
 * Elements in one chunk of the all-triplets pass (2^22 float32 = 16 MiB per
 * intermediate). The pass holds a handful of chunk-sized tensors at a time, so
 * its memory does not grow with N^3.
 */
export const DEFAULT_CHUNK_ELEMENTS = 2 ** 22;

/** What one chunk of the all-triplets pass covered; given to `onChunk` while the chunk's tensors are alive. */
export interface ChunkInfo {
  index: number;
  /** (anchor, positive) pairs in this chunk. */
  pairs: number;
  /** pairs x N: the elements of each chunk-sized intermediate. */
  elements: number;
}

export interface TripletOptions {
  distance?: DistanceName;
  /** PML's default 0.05. */
  margin?: number;
  /** l2 only: squared Euclidean distances (FaceNet). */
  squared?: boolean;
  /** Element budget of one chunk of the all-triplets pass (default DEFAULT_CHUNK_ELEMENTS; at least N is used). */
  chunkElements?: number;
  /** Bookkeeping hook (tests, profiling): called inside each chunk of the all-triplets pass. */
  onChunk?: (c: ChunkInfo) => void;
}

/**
 * Per triplet: relu(d_ap - d_an + margin) for l2, relu(s_an - s_ap + margin) for
 * cosine. Reduction: the mean over triplets with a non-zero loss (PML's default
 * AvgNonZeroReducer), so the loss does not fade as easy triplets pile up.
 *
 * With mined triplets the two distances of each are gathered from the N x N
 * matrix by flat index. Without tuples every valid triplet of the batch is used
 * (PML's default), in chunks of (anchor, positive) pairs against all N
 * candidate negatives, with the gradient tape off: the loss restricted to the
 * active triplets is linear in the distance matrix, so one N x N matrix of
 * weights (how often each entry appears, signed, over the active count) is its
 * exact gradient and nothing chunk-sized is kept for backprop.
 */
export class TripletMarginLoss implements MetricLoss {
  readonly name = 'triplet';
  readonly distance: DistanceName;
  readonly margin: number;
  readonly squared: boolean;
  readonly chunkElements: number;
  private readonly onChunk?: (c: ChunkInfo) => void;
  private stats: Stats = {};

  constructor(o: TripletOptions = {}) {
    this.distance = o.distance ?? 'l2';
    this.margin = o.margin ?? 0.05;
    this.squared = o.squared ?? false;
    if (this.squared && this.distance !== 'l2') throw new Error('TripletMarginLoss: squared applies to the l2 distance only');
    this.chunkElements = o.chunkElements ?? DEFAULT_CHUNK_ELEMENTS;
    this.onChunk = o.onChunk;
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
      const flat = tf.reshape(this.distances(embeddings), [-1]);
      const ap = tf.gather(flat, tf.tensor1d(flatIndex(t.anchors, t.positives, n), 'int32'));
      const an = tf.gather(flat, tf.tensor1d(flatIndex(t.anchors, t.negatives, n), 'int32'));
      const per = tf.relu(tf.add(tf.mul(tf.sub(ap, an), this.sign), this.margin));
      // The non-zero count is a constant of the reduction (no gradient through a comparison).
      nonzero = withoutTape(() => tf.tidy(() => tf.sum(tf.cast(tf.greater(per, 0), 'int32')).dataSync()[0]));
      return tf.div(tf.sum(per), Math.max(nonzero, 1)) as tf.Scalar;
    });
    this.stats = { triplets: t.anchors.length, nonzero, empty: 0 };
    return loss;
  }

  private allTriplets(embeddings: tf.Tensor2D, labels: Int32Array, total: number): tf.Scalar {
    let result = { nonzero: 0, chunks: 0, maxElements: 0 };
    const loss = tf.tidy(() => {
      const d = this.distances(embeddings);
      const op = tf.customGrad(((dm: tf.Tensor, save: tf.GradSaveFunc) => {
        const r = this.chunkedPass(dm as tf.Tensor2D, labels);
        result = r;
        save([r.weights]);
        return { value: r.value, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, saved[0]) };
      }) as Parameters<typeof tf.customGrad>[0]);
      return op(d) as tf.Scalar;
    });
    this.stats = { triplets: total, nonzero: result.nonzero, empty: 0, chunks: result.chunks, chunk_elements: result.maxElements };
    return loss;
  }

  /**
   * The all-triplets loss and its gradient weights, runs with the tape off (the
   * forward of a custom-gradient op). For each chunk of positive pairs (a, p),
   * the margins against every column n of row a, masked to a's negatives.
   */
  private chunkedPass(d: tf.Tensor2D, labels: Int32Array) {
    const n = d.shape[0];
    const { a1: anchors, p: positives } = allPairs(labels);
    const flatAp = flatIndex(anchors, positives, n);
    const pairsPerChunk = Math.max(1, Math.floor(this.chunkElements / n));
    const sign = this.sign;
    const negMask = tf.tensor2d(labelMasks(labels).neg, [n, n]);
    const flatD = tf.reshape(d, [-1]);
    let lossSum: tf.Tensor = tf.scalar(0);
    let count: tf.Tensor = tf.scalar(0, 'int32');
    let negWeights: tf.Tensor = tf.zeros([n, n]);
    const apCounts: tf.Tensor[] = [];
    let chunks = 0;
    let maxElements = 0;
    for (let k0 = 0; k0 < anchors.length; k0 += pairsPerChunk) {
      const k1 = Math.min(anchors.length, k0 + pairsPerChunk);
      const c = k1 - k0;
      const part = tf.tidy(() => {
        const a = tf.tensor1d(anchors.subarray(k0, k1), 'int32');
        const ap = tf.gather(flatD, tf.tensor1d(flatAp.subarray(k0, k1), 'int32')).reshape([c, 1]);
        // margin[(a, p), n] = sign * (D[a, p] - D[a, n]) + margin, kept where n is a negative of a and > 0.
        const t = tf.add(tf.mul(tf.sub(ap, tf.gather(d, a)), sign), this.margin);
        const active = tf.mul(tf.gather(negMask, a), tf.cast(tf.greater(t, 0), 'float32'));
        this.onChunk?.({ index: chunks, pairs: c, elements: c * n });
        return {
          loss: tf.sum(tf.mul(t, active)),
          count: tf.sum(tf.cast(active, 'int32')),
          apCount: tf.sum(active, 1),
          negCount: tf.unsortedSegmentSum(active, a, n),
        };
      });
      const next = { loss: tf.add(lossSum, part.loss), count: tf.add(count, part.count), neg: tf.add(negWeights, part.negCount) };
      tf.dispose([lossSum, count, negWeights, part.loss, part.count, part.negCount]);
      lossSum = next.loss; count = next.count; negWeights = next.neg;
      apCounts.push(part.apCount);
      chunks++;
      maxElements = Math.max(maxElements, c * n);
    }
    const nonzero = count.dataSync()[0];
    const value = tf.tidy(() => tf.div(lossSum, Math.max(nonzero, 1)));
    // d(loss)/dD: each active triplet adds sign to D[a, p] and -sign to D[a, n], over the active count.
    const weights = tf.tidy(() => {
      const idx = tf.tensor2d(flatAp, [flatAp.length, 1], 'int32');
      const posWeights = tf.reshape(tf.scatterND(idx, tf.concat(apCounts), [n * n]), [n, n]);
      return tf.mul(tf.sub(posWeights, negWeights), sign / Math.max(nonzero, 1));
    });
    tf.dispose([negMask, flatD, lossSum, count, negWeights, ...apCounts]);
    return { value, weights, nonzero, chunks, maxElements };
  }
}
