// Distances on L2-normalized embeddings, as pytorch-metric-learning's
// CosineSimilarity and LpDistance: one N x N matrix per batch that every loss
// and miner reads. Cosine is a similarity (higher = closer); l2 a distance.
import * as tf from '@tensorflow/tfjs';
import { l2Normalize } from './ntxent.ts';
import type { DistanceName } from './types.ts';

/**
 * Floor under squared L2 distances before the square root. sqrt's gradient is
 * 1/(2 sqrt(x)), infinite at 0, and 2 - 2 x.y is 0 (or float noise around it,
 * ~1e-7) on the diagonal and for identical rows; below the floor the clamp
 * passes no gradient, above it the gradient is at most 1/(2e-3) = 500. A
 * distance under 1e-3 is below what float32 resolves through 2 - 2 x.y anyway.
 */
export const L2_SQUARED_FLOOR = 1e-6;

/** Rows scaled to unit length (zero rows stay zero). */
export function normalizeRows(x: tf.Tensor2D): tf.Tensor2D {
  return l2Normalize(x);
}

/** True when larger values mean closer (cosine), false for distances (l2): PML's `is_inverted`. */
export function isSimilarity(distance: DistanceName): boolean {
  return distance === 'cosine';
}

/**
 * The N x N matrix of `x`'s rows, which must already be L2-normalized. cosine:
 * x x^T. l2: sqrt(max(2 - 2 x x^T, floor)), or with `squared` max(2 - 2 x x^T, 0)
 * (squared only applies to l2). Differentiable; the diagonal gives no NaN gradient.
 */
export function pairwise(x: tf.Tensor2D, distance: DistanceName, squared = false): tf.Tensor2D {
  return tf.tidy(() => {
    const sim = tf.matMul(x, x, false, true);
    if (distance === 'cosine') return sim as tf.Tensor2D;
    const sq = tf.sub(2, tf.mul(sim, 2));
    if (squared) return tf.relu(sq) as tf.Tensor2D;
    return tf.sqrt(tf.maximum(sq, L2_SQUARED_FLOOR)) as tf.Tensor2D;
  });
}

type CustomGradFn = Parameters<typeof tf.customGrad>[0];

/**
 * The entries of an N x N matrix at flat indices (row * N + col), differentiable.
 * Gather's stock gradient is an unsorted segment sum, which the TF.js cpu
 * backend runs as one pass over the data per segment (N^2 segments here:
 * hopeless past a few dozen rows); a scatter-add of dy is the same gradient in
 * one pass.
 */
export function gatherEntries(matrix: tf.Tensor2D, flat: Int32Array): tf.Tensor1D {
  const [rows, cols] = matrix.shape;
  const op = tf.customGrad(((m: tf.Tensor) => ({
    value: tf.gather(tf.reshape(m, [-1]), tf.tensor1d(flat, 'int32')),
    gradFunc: (dy: tf.Tensor) => tf.reshape(tf.scatterND(tf.tensor2d(flat, [flat.length, 1], 'int32'), dy, [rows * cols]), [rows, cols]),
  })) as CustomGradFn);
  return op(matrix) as tf.Tensor1D;
}

/** The same l2 formula in float64, for host code (miners, tests). */
export function l2FromSimilarity(s: number, squared = false): number {
  const sq = 2 - 2 * s;
  return squared ? Math.max(sq, 0) : Math.sqrt(Math.max(sq, L2_SQUARED_FLOOR));
}

/** A batch's pairwise matrices on the host, row-major N x N. */
export interface HostPairwise {
  n: number;
  /** Cosine similarities of the normalized rows, as the device computed them. */
  sim: Float32Array;
  /** What the chosen distance compares: `sim` itself for cosine, l2 distances (from `sim`, in float64) otherwise. */
  dist: Float32Array | Float64Array;
  /** True when a larger `dist` value means closer. */
  similarity: boolean;
}

/**
 * Normalizes raw embeddings, computes their cosine similarities on the device
 * with gradient recording off, and reads the matrix to the host once.
 */
export function hostPairwise(embeddings: tf.Tensor2D, distance: DistanceName, squared = false): HostPairwise {
  const n = embeddings.shape[0];
  const sim = withoutTape(() => {
    const s = tf.tidy(() => { const z = normalizeRows(embeddings); return tf.matMul(z, z, false, true); });
    const values = s.dataSync() as Float32Array;
    s.dispose();
    return values;
  });
  if (distance === 'cosine') return { n, sim, dist: sim, similarity: true };
  const dist = new Float64Array(n * n);
  for (let i = 0; i < n * n; i++) dist[i] = l2FromSimilarity(sim[i], squared);
  return { n, sim, dist, similarity: false };
}

/**
 * Runs `fn` with gradient recording off. TF.js records every kernel that runs
 * while a gradient is being taken and keeps the tensors its backward pass needs
 * until backprop, even for tensors that never reach the loss; only the body of
 * a kernel (here the forward function of a custom-gradient op) runs untaped.
 * Miners run inside a method's loss function, so this keeps their N x N work
 * off the tape.
 */
export function withoutTape<T>(fn: () => T): T {
  let out: T | undefined;
  let ran = false;
  const probe = tf.scalar(0);
  const op = tf.customGrad(((x: tf.Tensor) => {
    out = fn();
    ran = true;
    return { value: tf.zerosLike(x), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) };
  }) as CustomGradFn);
  const result = op(probe);
  result.dispose();
  probe.dispose();
  if (!ran) throw new Error('withoutTape: the function did not run');
  return out as T;
}
