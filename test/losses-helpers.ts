// Shared by the metric-loss and miner tests: seeded batches, float64 reference
// geometry written out plainly, and gradient / memory checks.
import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';
import { Rng } from '../src/util/rng.ts';
import type { DistanceName, MetricLoss, Pairs, Triplets, Tuples } from '../src/losses/types.ts';

export type Mat = number[][];

/** n rows of d standard normals and labels drawn from `classes` classes, each class at least twice when n allows. */
export function randomBatch(seed: string, n: number, d: number, classes: number): { x: Mat; labels: Int32Array } {
  const rng = new Rng(seed);
  const x = Array.from({ length: n }, () => Array.from({ length: d }, () => rng.normal()));
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) labels[i] = i < 2 * classes ? Math.floor(i / 2) : rng.int(classes);
  rng.shuffle(labels);
  return { x, labels };
}

export function normalize(x: Mat): Mat {
  return x.map((r) => { const s = Math.hypot(...r); return r.map((v) => v / s); });
}

/** Cosine similarity, Euclidean or squared Euclidean distance of the normalized rows, in float64. */
export function refMatrix(x: Mat, distance: DistanceName, squared = false): Mat {
  const z = normalize(x);
  return z.map((a) => z.map((b) => {
    if (distance === 'cosine') return a.reduce((s, v, k) => s + v * b[k], 0);
    const sq = a.reduce((s, v, k) => s + (v - b[k]) ** 2, 0);
    return squared ? sq : Math.sqrt(sq);
  }));
}

/** Every ordered pair, i != j, row-major. */
export function refAllPairs(labels: Int32Array): { pos: [number, number][]; neg: [number, number][] } {
  const pos: [number, number][] = [];
  const neg: [number, number][] = [];
  for (let i = 0; i < labels.length; i++) for (let j = 0; j < labels.length; j++) {
    if (i === j) continue;
    (labels[i] === labels[j] ? pos : neg).push([i, j]);
  }
  return { pos, neg };
}

export function refAllTriplets(labels: Int32Array): [number, number, number][] {
  const out: [number, number, number][] = [];
  const n = labels.length;
  for (let a = 0; a < n; a++) for (let p = 0; p < n; p++) for (let q = 0; q < n; q++) {
    if (p !== a && labels[p] === labels[a] && labels[q] !== labels[a]) out.push([a, p, q]);
  }
  return out;
}

export function pairLists(t: Tuples): { pos: [number, number][]; neg: [number, number][] } {
  if (t.kind === 'pairs') {
    return { pos: Array.from(t.a1, (a, i) => [a, t.p[i]]), neg: Array.from(t.a2, (a, i) => [a, t.n[i]]) };
  }
  return { pos: Array.from(t.anchors, (a, i) => [a, t.positives[i]]), neg: Array.from(t.anchors, (a, i) => [a, t.negatives[i]]) };
}

export function tripletList(t: Triplets): [number, number, number][] {
  return Array.from(t.anchors, (a, i) => [a, t.positives[i], t.negatives[i]]);
}

export function makePairs(pos: [number, number][], neg: [number, number][]): Pairs {
  return {
    kind: 'pairs',
    a1: Int32Array.from(pos, (x) => x[0]), p: Int32Array.from(pos, (x) => x[1]),
    a2: Int32Array.from(neg, (x) => x[0]), n: Int32Array.from(neg, (x) => x[1]),
  };
}

export function makeTriplets(t: [number, number, number][]): Triplets {
  return {
    kind: 'triplets',
    anchors: Int32Array.from(t, (x) => x[0]), positives: Int32Array.from(t, (x) => x[1]), negatives: Int32Array.from(t, (x) => x[2]),
  };
}

/** |got - want| <= rel * max(|want|, 1e-3): relative, with a floor for values near 0. */
export function expectRel(got: number, want: number, rel = 1e-5): void {
  expect(Number.isFinite(got)).toBe(true);
  expect(Math.abs(got - want)).toBeLessThanOrEqual(rel * Math.max(Math.abs(want), 1e-3));
}

export function lossValue(loss: MetricLoss, x: Mat, labels: Int32Array, tuples?: Tuples): number {
  const e = tf.tensor2d(x);
  const l = loss.compute(e, labels, tuples);
  const v = l.dataSync()[0];
  tf.dispose([e, l]);
  return v;
}

/** d loss / d embeddings from the tape. */
export function lossGrad(loss: MetricLoss, x: Mat, labels: Int32Array, tuples?: Tuples): Mat {
  const e = tf.tensor2d(x);
  const g = tf.grad((t: tf.Tensor) => loss.compute(t as tf.Tensor2D, labels, tuples))(e);
  const out = g.arraySync() as Mat;
  tf.dispose([e, g]);
  return out;
}

/** Central finite differences of a float64 function of the embeddings. */
export function finiteDiff(f: (x: Mat) => number, x: Mat, h = 1e-5): Mat {
  return x.map((row, i) => row.map((_, j) => {
    const plus = x.map((r) => r.slice()); plus[i][j] += h;
    const minus = x.map((r) => r.slice()); minus[i][j] -= h;
    return (f(plus) - f(minus)) / (2 * h);
  }));
}

/** Every entry within 1e-3 of the finite difference, relative to the gradient's largest entry (float32 vs float64). */
export function expectGradClose(got: Mat, want: Mat, rel = 1e-3): void {
  const scale = Math.max(...want.flat().map(Math.abs));
  expect(scale).toBeGreaterThan(1e-4); // a test of a gradient that is all zeros would prove nothing
  got.flat().forEach((g, k) => {
    expect(Number.isFinite(g)).toBe(true);
    expect(Math.abs(g - want.flat()[k])).toBeLessThanOrEqual(rel * scale);
  });
}

/** The tensor count is unchanged by running `fn` (results disposed inside). */
export function expectNoLeak(fn: () => void): void {
  fn(); // warm-up: backends may allocate once
  const before = tf.memory().numTensors;
  fn();
  expect(tf.memory().numTensors).toBe(before);
}

export function computeAndGradNoLeak(loss: MetricLoss, x: Mat, labels: Int32Array, tuples?: Tuples): void {
  expectNoLeak(() => {
    const e = tf.tensor2d(x);
    loss.compute(e, labels, tuples).dispose();
    tf.grad((t: tf.Tensor) => loss.compute(t as tf.Tensor2D, labels, tuples))(e).dispose();
    e.dispose();
  });
}

/** The "no valid tuple" contract: 0, empty = 1, and a finite all-zero gradient. */
export function expectEmpty(loss: MetricLoss, x: Mat, labels: Int32Array, tuples?: Tuples): void {
  expect(lossValue(loss, x, labels, tuples)).toBe(0);
  expect(loss.lastStats().empty).toBe(1);
  const g = lossGrad(loss, x, labels, tuples).flat();
  expect(g.every((v) => v === 0)).toBe(true);
}
