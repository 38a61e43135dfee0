// The losses of the methods without negatives against plain-JS float64 references
// and hand-worked cases: SimSiam's negative cosine, BYOL's 2 - 2cos, Barlow Twins'
// cross-correlation loss, VICReg's three terms; and the stop-gradient.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { barlowTwinsLoss } from '../src/losses/barlowtwins.ts';
import { byolLoss, negativeCosineLoss, stopGradient } from '../src/losses/negcosine.ts';
import { vicregLoss, vicregTerms } from '../src/losses/vicreg.ts';
import { Rng } from '../src/util/rng.ts';

beforeAll(async () => { await tf.setBackend('cpu'); });

type M = number[][];
const draw = (rng: Rng, n: number, d: number): M => Array.from({ length: n }, () => Array.from({ length: d }, () => rng.normal() * 2 + 0.5));
const col = (z: M, j: number) => z.map((r) => r[j]);
const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
const cos = (a: number[], b: number[]) => {
  const dot = a.reduce((s, x, i) => s + x * b[i], 0);
  return dot / Math.hypot(...a) / Math.hypot(...b);
};
const scalar = (t: tf.Scalar) => { const v = t.dataSync()[0]; t.dispose(); return v; };

function barlowRef(z1: M, z2: M, lambda: number): number {
  const [n, d] = [z1.length, z1[0].length];
  const std = (z: M) => {
    const out = z.map((r) => r.slice());
    for (let j = 0; j < d; j++) {
      const c = col(z, j); const m = mean(c);
      const v = mean(c.map((x) => (x - m) ** 2));
      for (let i = 0; i < n; i++) out[i][j] = (z[i][j] - m) / Math.sqrt(v + 1e-5);
    }
    return out;
  };
  const a = std(z1); const b = std(z2);
  let loss = 0;
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) {
    let c = 0;
    for (let k = 0; k < n; k++) c += a[k][i] * b[k][j];
    c /= n;
    loss += i === j ? (1 - c) ** 2 : lambda * c * c;
  }
  return loss;
}

function vicregRef(z1: M, z2: M, w: { sim: number; std: number; cov: number }) {
  const [n, d] = [z1.length, z1[0].length];
  const inv = mean(z1.flatMap((r, i) => r.map((x, j) => (x - z2[i][j]) ** 2)));
  const stats = (z: M) => {
    const m = Array.from({ length: d }, (_, j) => mean(col(z, j)));
    const cov = (i: number, j: number) => z.reduce((s, r) => s + (r[i] - m[i]) * (r[j] - m[j]), 0) / (n - 1);
    let variance = 0; let c = 0;
    for (let i = 0; i < d; i++) {
      variance += Math.max(0, 1 - Math.sqrt(cov(i, i) + 1e-4)) / d;
      for (let j = 0; j < d; j++) if (i !== j) c += cov(i, j) ** 2 / d;
    }
    return { variance, c };
  };
  const a = stats(z1); const b = stats(z2);
  const variance = (a.variance + b.variance) / 2;
  const covariance = a.c + b.c;
  return { inv, variance, covariance, loss: w.sim * inv + w.std * variance + w.cov * covariance };
}

describe('negative cosine (SimSiam) and normalized MSE (BYOL)', () => {
  it('hand cases: aligned, opposite and orthogonal rows', () => {
    const p = tf.tensor2d([[2, 0], [0, 1], [1, 0]]);
    const z = tf.tensor2d([[5, 0], [0, -3], [0, 4]]);
    // cosines 1, -1, 0: mean 0.
    expect(scalar(negativeCosineLoss(p, z))).toBeCloseTo(0, 6);
    expect(scalar(byolLoss(p, z))).toBeCloseTo(2, 6);
    expect(scalar(negativeCosineLoss(p, p))).toBeCloseTo(-1, 6);
    expect(scalar(byolLoss(p, p))).toBeCloseTo(0, 6);
    p.dispose(); z.dispose();
  });

  it('match a float64 reference on random vectors', () => {
    const rng = new Rng('negcos');
    const p = draw(rng, 7, 5); const z = draw(rng, 7, 5);
    const c = mean(p.map((r, i) => cos(r, z[i])));
    expect(scalar(negativeCosineLoss(tf.tensor2d(p), tf.tensor2d(z)))).toBeCloseTo(-c, 5);
    expect(scalar(byolLoss(tf.tensor2d(p), tf.tensor2d(z)))).toBeCloseTo(2 - 2 * c, 5);
  });

  it('stopGradient passes the value and blocks the gradient', () => {
    const x = tf.tensor1d([1, -2, 3]);
    // f(x) = sum(sg(x) * x): the gradient is sg(x) = x, not 2x.
    const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(stopGradient(v), v)))(x);
    expect(Array.from(g.dataSync())).toEqual([1, -2, 3]);
    expect(Array.from(stopGradient(x).dataSync())).toEqual([1, -2, 3]);
    const zero = tf.grad((v: tf.Tensor) => tf.sum(stopGradient(v)))(x);
    expect(Array.from(zero.dataSync())).toEqual([0, 0, 0]);
    tf.dispose([x, g, zero]);
  });
});

describe('Barlow Twins', () => {
  it('is 0 for identical views whose standardized dimensions are uncorrelated', () => {
    // Columns +-1 patterns orthogonal over the batch: C is the identity.
    const z = tf.tensor2d([[1, 1], [1, -1], [-1, 1], [-1, -1]]);
    expect(scalar(barlowTwinsLoss(z, z, 0.5))).toBeCloseTo(0, 4);
    // Two copies of one dimension: C = all ones, loss = lambda * 2 off-diagonal ones.
    const dup = tf.tensor2d([[1, 1], [-1, -1], [2, 2], [-2, -2]]);
    expect(scalar(barlowTwinsLoss(dup, dup, 0.5))).toBeCloseTo(0.5 * 2, 4);
    z.dispose(); dup.dispose();
  });

  it('matches a float64 reference, and scale and shift of a column do not change it', () => {
    const rng = new Rng('barlow');
    const z1 = draw(rng, 9, 4); const z2 = draw(rng, 9, 4);
    const want = barlowRef(z1, z2, 0.3);
    expect(scalar(barlowTwinsLoss(tf.tensor2d(z1), tf.tensor2d(z2), 0.3))).toBeCloseTo(want, 3);
    const moved = z1.map((r) => r.map((x, j) => x * (j + 1) * 3 - j));
    expect(scalar(barlowTwinsLoss(tf.tensor2d(moved), tf.tensor2d(z2), 0.3))).toBeCloseTo(want, 3);
  });
});

describe('VICReg', () => {
  it('hand cases: identical views with spread-out, uncorrelated dimensions cost 0', () => {
    // Each column has unbiased std sqrt(4/3) > 1 and the two are uncorrelated.
    const z = tf.tensor2d([[1, 1], [1, -1], [-1, 1], [-1, -1]]);
    expect(scalar(vicregLoss(z, z))).toBeCloseTo(0, 5);
    // A collapsed batch (every row the same): the variance hinge is 1 - sqrt(1e-4) per view.
    const flat = tf.tensor2d([[3, -1], [3, -1], [3, -1]]);
    const t = vicregTerms(flat, flat);
    expect(scalar(t.invariance)).toBe(0);
    expect(scalar(t.variance)).toBeCloseTo(1 - 0.01, 5);
    expect(scalar(t.covariance)).toBe(0);
    z.dispose(); flat.dispose();
  });

  it('matches a float64 reference term by term and weighted', () => {
    const rng = new Rng('vicreg');
    const z1 = draw(rng, 10, 5).map((r) => r.map((x) => x * 0.3)); // some std below 1: the hinge is active
    const z2 = draw(rng, 10, 5);
    const want = vicregRef(z1, z2, { sim: 2, std: 3, cov: 0.5 });
    const t = vicregTerms(tf.tensor2d(z1), tf.tensor2d(z2));
    expect(scalar(t.invariance)).toBeCloseTo(want.inv, 4);
    expect(scalar(t.variance)).toBeCloseTo(want.variance, 5);
    expect(want.variance).toBeGreaterThan(0.05);
    expect(scalar(t.covariance)).toBeCloseTo(want.covariance, 3);
    expect(scalar(vicregLoss(tf.tensor2d(z1), tf.tensor2d(z2), { sim: 2, std: 3, cov: 0.5 }))).toBeCloseTo(want.loss, 3);
  });
});

describe('gradients match finite differences of the float64 references', () => {
  // Central differences of the reference in float64 against tfjs's autodiff (float32).
  function check(loss: (a: tf.Tensor2D) => tf.Scalar, ref: (a: M) => number, z: M) {
    const g = tf.grad((a: tf.Tensor) => loss(a as tf.Tensor2D))(tf.tensor2d(z));
    const got = g.arraySync() as M;
    const h = 1e-5;
    let worst = 0; let scale = 0;
    z.forEach((r, i) => r.forEach((_, j) => {
      const up = z.map((q) => q.slice()); up[i][j] += h;
      const down = z.map((q) => q.slice()); down[i][j] -= h;
      const fd = (ref(up) - ref(down)) / (2 * h);
      worst = Math.max(worst, Math.abs(fd - got[i][j]));
      scale = Math.max(scale, Math.abs(fd));
    }));
    expect(scale).toBeGreaterThan(0.01);
    expect(worst / scale).toBeLessThan(2e-3);
    g.dispose();
  }

  it('Barlow Twins and VICReg, with respect to the first view', () => {
    const rng = new Rng('grads');
    const z1 = draw(rng, 6, 3).map((r) => r.map((x) => x * 0.4)); const z2 = draw(rng, 6, 3);
    const t2 = tf.tensor2d(z2);
    check((a) => barlowTwinsLoss(a, t2, 0.2), (a) => barlowRef(a, z2, 0.2), z1);
    const w = { sim: 1, std: 2, cov: 3 };
    check((a) => vicregLoss(a, t2, w), (a) => vicregRef(a, z2, w).loss, z1);
    t2.dispose();
  });
});
