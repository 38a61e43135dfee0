// The parts of metric learning that compose, as in pytorch-metric-learning:
// a distance turns embeddings into a pairwise matrix, a miner picks index tuples
// from a batch (outside the gradient tape), and a loss turns embeddings, labels
// and (optionally) mined tuples into a scalar (under the tape).
import type * as tf from '@tensorflow/tfjs';

/** 'cosine': similarity of L2-normalized rows (higher = closer); 'l2': Euclidean distance of L2-normalized rows (lower = closer). */
export type DistanceName = 'cosine' | 'l2';

/**
 * Positive pairs (a1[i], p[i]) and negative pairs (a2[j], n[j]) as batch row
 * indices: pytorch-metric-learning's (a1, p, a2, n).
 */
export interface Pairs {
  kind: 'pairs';
  a1: Int32Array;
  p: Int32Array;
  a2: Int32Array;
  n: Int32Array;
}

/** Triplets (anchors[i], positives[i], negatives[i]) as batch row indices. */
export interface Triplets {
  kind: 'triplets';
  anchors: Int32Array;
  positives: Int32Array;
  negatives: Int32Array;
}

export type Tuples = Pairs | Triplets;

/** Host-side numbers worth logging (counts, mean similarities); plain JSON-able scalars. */
export type Stats = Record<string, number>;

export interface MinerOutput {
  tuples: Tuples;
  /** e.g. { pos_pairs, neg_pairs } or { triplets }, plus mean_pos_sim / mean_neg_sim of what was mined. */
  stats: Stats;
}

/** Picks tuples from a batch. Runs outside the gradient tape; never keeps tensors. */
export interface Miner {
  readonly name: string;
  mine(embeddings: tf.Tensor2D, labels: Int32Array): MinerOutput;
}

export interface MetricLoss {
  readonly name: string;
  /**
   * The batch loss, computed under the gradient tape. `embeddings` are raw
   * [N, d] rows (normalized inside); `labels` has N entries. Without `tuples`,
   * the loss uses every valid tuple of the batch (as PML does). A batch with no
   * valid tuple gives 0 (connected to the graph), never NaN.
   */
  compute(embeddings: tf.Tensor2D, labels: Int32Array, tuples?: Tuples): tf.Scalar;
  /** Host-side stats of the last compute() (e.g. tuples used, tuples with non-zero loss, empty = 1 when no valid tuple). */
  lastStats(): Stats;
}
