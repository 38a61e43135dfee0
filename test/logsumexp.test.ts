// rowLogSumExp against tf.logSumExp and a float64 reference: values and gradients,
// with masked (-1e9) entries, keepDims, and no tensor left behind.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { rowLogSumExp } from '../src/losses/logsumexp.ts';
import { Rng } from '../src/util/rng.ts';

beforeAll(async () => { await tf.setBackend('cpu'); });

function rows(n: number, m: number, seed: string): number[][] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, (_, i) => Array.from({ length: m }, (_, j) => (j === i % m ? -1e9 : 8 * rng.normal())));
}

describe('rowLogSumExp', () => {
  it('equals a float64 log-sum-exp, and its gradient (weights w) equals w_i * softmax', () => {
    const data = rows(7, 11, 'lse');
    const w = Array.from({ length: 7 }, (_, i) => (i + 1) / 7);
    const x = tf.tensor2d(data);
    const wt = tf.tensor1d(w);
    const before = tf.memory().numTensors;
    const { value, grads } = tf.valueAndGrads((a: tf.Tensor) => tf.sum(tf.mul(rowLogSumExp(a as tf.Tensor2D), wt)))([x]);
    const g = grads[0].arraySync() as number[][];
    let want = 0;
    data.forEach((r, i) => {
      const m = Math.max(...r);
      const lse = m + Math.log(r.reduce((s, v) => s + Math.exp(v - m), 0));
      want += w[i] * lse;
      r.forEach((v, j) => expect(g[i][j]).toBeCloseTo(w[i] * Math.exp(v - lse), 5));
    });
    expect(value.arraySync() as number).toBeCloseTo(want, 3);
    tf.dispose([value, ...grads]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, wt]);
  });

  it('matches tf.logSumExp in value and gradient, with and without keepDims', () => {
    const x = tf.tensor2d(rows(5, 9, 'lse-tf'));
    for (const keep of [false, true]) {
      const ours = tf.valueAndGrads((a: tf.Tensor) => tf.sum(tf.square(rowLogSumExp(a as tf.Tensor2D, keep))))([x]);
      const ref = tf.valueAndGrads((a: tf.Tensor) => tf.sum(tf.square(tf.logSumExp(a, 1, keep))))([x]);
      expect(ours.value.arraySync() as number).toBeCloseTo(ref.value.arraySync() as number, 2);
      const [a, b] = [ours.grads[0].dataSync(), ref.grads[0].dataSync()];
      for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThan(1e-4 * Math.max(1, Math.abs(b[i])));
      expect(rowLogSumExp(x, keep).shape).toEqual(keep ? [5, 1] : [5]);
      tf.dispose([ours.value, ref.value, ...ours.grads, ...ref.grads]);
    }
    x.dispose();
  });
});
