// BatchMatMul with transpose flags on wasm (explicit transpose + XNNPACK) against
// the cpu kernel, plus the cases left to the stock kernel.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadWasm } from '../src/backend/wasm.ts';
import { Rng } from '../src/util/rng.ts';
import { expectAllClose, randn, runOn, size } from './wasm-helpers.ts';

beforeAll(async () => {
  const r = await loadWasm({ threads: 1 });
  expect(r.ok, JSON.stringify(r)).toBe(true);
});

interface MCase { a: number[]; b: number[]; ta: boolean; tb: boolean }
const CASES: MCase[] = [
  { a: [7, 5], b: [5, 3], ta: false, tb: false },
  { a: [5, 7], b: [5, 3], ta: true, tb: false },
  { a: [7, 5], b: [3, 5], ta: false, tb: true },
  { a: [5, 7], b: [3, 5], ta: true, tb: true },
  { a: [1, 5, 7], b: [1, 3, 5], ta: true, tb: true }, // batch of one: still the fast path
  { a: [2, 5, 7], b: [2, 5, 3], ta: true, tb: false }, // batched: stock kernel
];

describe('matMul on wasm matches cpu', () => {
  for (const c of CASES) {
    it(`[${c.a}]${c.ta ? '^T' : ''} x [${c.b}]${c.tb ? '^T' : ''}`, async () => {
      const rng = new Rng(`mm:${c.a}:${c.b}:${c.ta}:${c.tb}`);
      const a = randn(rng, size(c.a)), b = randn(rng, size(c.b));
      const run = () => [tf.matMul(tf.tensor(a, c.a), tf.tensor(b, c.b), c.ta, c.tb)];
      const ref = await runOn('cpu', run);
      const got = await runOn('wasm', run);
      expectAllClose(got[0], ref[0], 1e-5, 1e-6, 'product');
      await tf.setBackend('wasm');
      const shape = tf.tidy(() => run()[0].shape);
      await tf.setBackend('cpu');
      expect(shape).toEqual(tf.tidy(() => run()[0].shape));
    });
  }

  it('flagged products take the explicit-transpose path, and leak nothing', async () => {
    await tf.setBackend('wasm');
    const a = tf.ones([6, 4]), b = tf.ones([3, 4]);
    const prof = await tf.profile(() => { tf.matMul(a, b, false, true).dispose(); });
    expect(prof.kernels.map((k) => k.name)).toContain('Transpose');
    const n = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) tf.matMul(a, b, false, true).dispose();
    expect(tf.memory().numTensors).toBe(n);
    tf.dispose([a, b]);
  });

  it('gradients of a dense layer (both flagged products) match cpu', async () => {
    const rng = new Rng('dense-grad');
    const x = randn(rng, 6 * 4), w = randn(rng, 4 * 3), r = randn(rng, 6 * 3);
    const run = () => tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(tf.matMul(p, q), tf.tensor2d(r, [6, 3]))))([tf.tensor2d(x, [6, 4]), tf.tensor2d(w, [4, 3])]);
    const ref = await runOn('cpu', run);
    const got = await runOn('wasm', run);
    expectAllClose(got[0], ref[0], 1e-5, 1e-6, 'dx');
    expectAllClose(got[1], ref[1], 1e-5, 1e-6, 'dW');
  });
});
