import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { gatherEntries, L2_SQUARED_FLOOR, normalizeRows, pairwise, withoutTape } from '../src/losses/distances.ts';
import { expectGradClose, finiteDiff, randomBatch, refMatrix, type Mat } from './losses-helpers.ts';

beforeAll(async () => { await tf.setBackend('cpu'); });

function matrix(x: Mat, distance: 'cosine' | 'l2', squared = false): number[][] {
  return tf.tidy(() => pairwise(normalizeRows(tf.tensor2d(x)), distance, squared).arraySync());
}

describe('pairwise', () => {
  const { x } = randomBatch('dist', 7, 5, 3);

  it('gives cosine, l2 and squared l2 of the normalized rows (float64 reference)', () => {
    for (const [distance, squared] of [['cosine', false], ['l2', false], ['l2', true]] as const) {
      const got = matrix(x, distance, squared);
      const want = refMatrix(x, distance, squared);
      for (let i = 0; i < 7; i++) for (let j = 0; j < 7; j++) {
        if (i === j && distance === 'l2' && !squared) expect(got[i][j]).toBeCloseTo(Math.sqrt(L2_SQUARED_FLOOR), 6);
        else expect(Math.abs(got[i][j] - want[i][j])).toBeLessThan(2e-6);
      }
    }
  });

  it('has the reference gradient, and a finite one on the diagonal and for identical rows', () => {
    const w = Array.from({ length: 49 }, (_, k) => Math.sin(k + 1));
    const f = (z: Mat) => refMatrix(z, 'l2').flat().reduce((s, v, k) => s + (k % 8 === 0 ? 0 : w[k] * v), 0);
    const weights = tf.tensor2d(w.map((v, k) => (k % 8 === 0 ? 0 : v)), [7, 7]);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(pairwise(normalizeRows(t as tf.Tensor2D), 'l2'), weights)))(tf.tensor2d(x));
    expectGradClose(g.arraySync() as Mat, finiteDiff(f, x));
    const twins = [x[0], x[0].slice(), x[1]];
    const g2 = tf.grad((t: tf.Tensor) => tf.sum(pairwise(normalizeRows(t as tf.Tensor2D), 'l2')))(tf.tensor2d(twins));
    expect(g2.dataSync().every(Number.isFinite)).toBe(true);
  });
});

describe('gatherEntries', () => {
  it('gathers by flat index and scatters the gradient back, adding repeated entries', () => {
    const m = tf.tensor2d([[1, 2, 3], [4, 5, 6], [7, 8, 9]]);
    const idx = Int32Array.from([1, 5, 5, 6]);
    expect(Array.from(gatherEntries(m, idx).dataSync())).toEqual([2, 6, 6, 7]);
    const coeff = tf.tensor1d([1, 10, 100, 1000]);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(gatherEntries(t as tf.Tensor2D, idx), coeff)))(m);
    expect(Array.from(g.dataSync())).toEqual([0, 1, 0, 0, 0, 110, 1000, 0, 0]);
  });
});

describe('withoutTape', () => {
  it('runs tensor code whose results are not on the gradient path, and keeps nothing', () => {
    const x = tf.tensor2d([[1, 2], [3, 4]]);
    const before = tf.memory().numTensors;
    let seen = 0;
    const g = tf.grad((t: tf.Tensor) => {
      seen = withoutTape(() => tf.tidy(() => tf.sum(tf.mul(t, t)).dataSync()[0]));
      return tf.sum(t);
    })(x);
    expect(seen).toBe(30);
    expect(Array.from(g.dataSync())).toEqual([1, 1, 1, 1]);
    g.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
