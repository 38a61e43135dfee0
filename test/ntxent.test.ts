import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { infoNceLoss, ntXentLoss } from '../src/losses/ntxent.ts';

beforeAll(async () => { await tf.setBackend('cpu'); });

/** NT-Xent written out in plain JS, straight from the SimCLR paper's definition. */
function ntXentReference(z1: number[][], z2: number[][], t: number): number {
  const z = [...z1, ...z2].map((v) => { const n = Math.hypot(...v); return v.map((x) => x / n); });
  const n = z1.length;
  const sim = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i], 0);
  let total = 0;
  for (let i = 0; i < 2 * n; i++) {
    const j = (i + n) % (2 * n);
    let denom = 0;
    for (let k = 0; k < 2 * n; k++) if (k !== i) denom += Math.exp(sim(z[i], z[k]) / t);
    total += -Math.log(Math.exp(sim(z[i], z[j]) / t) / denom);
  }
  return total / (2 * n);
}

describe('ntXentLoss', () => {
  it('matches a hand-computed value on a 2-image batch', () => {
    // Orthogonal unit vectors: the positive pair has similarity 1, every negative 0.
    // Each of the 4 views: -log(e^{1/T} / (e^{1/T} + 2 e^0)); with T = 0.5: -log(e^2 / (e^2 + 2)).
    const z1 = tf.tensor2d([[1, 0, 0], [0, 1, 0]]);
    const z2 = tf.tensor2d([[2, 0, 0], [0, 3, 0]]);
    const loss = ntXentLoss(z1, z2, 0.5).dataSync()[0];
    const expected = -Math.log(Math.exp(2) / (Math.exp(2) + 2));
    expect(loss).toBeCloseTo(expected, 5);
  });

  it('matches the reference definition on random inputs', () => {
    const z1 = [[0.3, -1.2, 0.5, 2], [1, 1, -0.5, 0.1], [-0.7, 0.2, 0.9, -1.1]];
    const z2 = [[0.1, -1, 0.7, 1.5], [0.8, 1.3, -0.2, 0], [2, -0.3, 0.4, 0.6]];
    for (const t of [0.1, 0.5, 1]) {
      const got = ntXentLoss(tf.tensor2d(z1), tf.tensor2d(z2), t).dataSync()[0];
      expect(got).toBeCloseTo(ntXentReference(z1, z2, t), 4);
    }
  });

  it('has a gradient that agrees with a central finite difference', () => {
    const base = [[0.3, -1.2, 0.5], [1, 1, -0.5], [-0.7, 0.2, 0.9]];
    const other = tf.tensor2d([[0.1, -1, 0.7], [0.8, 1.3, -0.2], [2, -0.3, 0.4]]);
    const f = (z: tf.Tensor2D) => ntXentLoss(z, other, 0.5);
    const g = tf.grad(f as (x: tf.Tensor) => tf.Tensor)(tf.tensor2d(base)).arraySync() as number[][];
    const h = 1e-3;
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) {
      const plus = base.map((r) => r.slice()); plus[i][j] += h;
      const minus = base.map((r) => r.slice()); minus[i][j] -= h;
      const fd = (f(tf.tensor2d(plus)).dataSync()[0] - f(tf.tensor2d(minus)).dataSync()[0]) / (2 * h);
      expect(g[i][j]).toBeCloseTo(fd, 2);
    }
  });

  it('does not leak tensors', () => {
    const z1 = tf.randomNormal([8, 4], 0, 1, 'float32', 1) as tf.Tensor2D;
    const z2 = tf.randomNormal([8, 4], 0, 1, 'float32', 2) as tf.Tensor2D;
    const before = tf.memory().numTensors;
    ntXentLoss(z1, z2, 0.2).dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('infoNceLoss', () => {
  it('matches a hand-computed value with one negative', () => {
    // q = k (cos 1), negative orthogonal (cos 0); T = 1: -log(e / (e + 1)).
    const q = tf.tensor2d([[1, 0]]);
    const neg = tf.tensor2d([[0, 1]]);
    const loss = infoNceLoss(q, q, neg, 1).dataSync()[0];
    expect(loss).toBeCloseTo(-Math.log(Math.E / (Math.E + 1)), 5);
  });
});
