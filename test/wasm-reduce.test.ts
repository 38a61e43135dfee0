// The pooled Sum / Mean replacements on wasm against the cpu kernels, the
// cases that must fall through to the stock kernel, and precision on a long
// reduction against a float64 reference.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadWasm } from '../src/backend/wasm.ts';
import { poolPlan } from '../src/backend/wasm-reduce.ts';
import { Rng } from '../src/util/rng.ts';
import { expectAllClose, randn, runOn, size } from './wasm-helpers.ts';

beforeAll(async () => {
  const r = await loadWasm({ threads: 1 });
  expect(r.ok, JSON.stringify(r)).toBe(true);
});

describe('poolPlan', () => {
  it('views a contiguous block of non-innermost axes as an A x B window', () => {
    // Global average pool of [4, 6, 5, 3]: P = 4, window 30 = 6 x 5, R = 3.
    expect(poolPlan([4, 6, 5, 3], [1, 2], false, 'float32')).toEqual({ p: 4, a: 6, b: 5, r: 3, outShape: [4, 3] });
    // Batch-norm statistics of [64, 5] over axis 0: window 64 = 8 x 8.
    expect(poolPlan([64, 5], 0, true, 'float32')).toEqual({ p: 1, a: 8, b: 8, r: 5, outShape: [1, 5] });
    // A prime window stays one-dimensional; negative axes count from the end.
    expect(poolPlan([3, 7, 4], -2, false, 'float32')).toEqual({ p: 3, a: 7, b: 1, r: 4, outShape: [3, 4] });
  });

  it('leaves innermost, non-contiguous, full and non-float reductions to the stock kernel', () => {
    expect(poolPlan([4, 6, 5], [2], false, 'float32')).toBeNull();
    expect(poolPlan([4, 6, 5], [0, 2], false, 'float32')).toBeNull();
    expect(poolPlan([4, 6, 5], null, false, 'float32')).toBeNull();
    expect(poolPlan([4, 6, 5], [0], false, 'int32')).toBeNull();
    expect(poolPlan([1, 6, 5], [0], false, 'float32')).toBeNull(); // nothing to reduce
  });
});

interface RCase { shape: number[]; axis: number | number[] | null; keepDims: boolean }
const CASES: RCase[] = [
  { shape: [64, 5], axis: 0, keepDims: false },
  { shape: [64, 5], axis: [0], keepDims: true },
  { shape: [4, 6, 5, 3], axis: [0, 1, 2], keepDims: true },
  { shape: [4, 6, 5, 3], axis: [1, 2], keepDims: false },
  { shape: [3, 7, 4], axis: -2, keepDims: false },
  // Stock paths, for completeness of the replacement's fall-through.
  { shape: [4, 6, 5], axis: [2], keepDims: false },
  { shape: [4, 6, 5], axis: [0, 2], keepDims: true },
  { shape: [4, 6, 5], axis: null, keepDims: false },
];

describe('Sum and Mean on wasm match cpu', () => {
  for (const c of CASES) {
    it(`shape [${c.shape}] axis ${JSON.stringify(c.axis)} keepDims ${c.keepDims}`, async () => {
      const x = randn(new Rng(`reduce:${c.shape}:${c.axis}`), size(c.shape));
      const ax = c.axis ?? undefined;
      const run = () => {
        const t = tf.tensor(x, c.shape);
        return [tf.sum(t, ax, c.keepDims), tf.mean(t, ax, c.keepDims)];
      };
      const ref = await runOn('cpu', run);
      const got = await runOn('wasm', run);
      expectAllClose(got[0], ref[0], 1e-5, 1e-5, 'sum');
      expectAllClose(got[1], ref[1], 1e-5, 1e-6, 'mean');
      await tf.setBackend('wasm');
      const shapes = tf.tidy(() => run().map((t) => t.shape));
      await tf.setBackend('cpu');
      expect(shapes).toEqual(tf.tidy(() => run().map((t) => t.shape)));
    });
  }

  it('the pooled path really runs (AvgPool inside Mean), the stock one for innermost axes', async () => {
    await tf.setBackend('wasm');
    const t = tf.ones([16, 3]);
    const kernels = async (f: () => tf.Tensor) => (await tf.profile(() => { f().dispose(); })).kernels.map((k) => k.name);
    expect(await kernels(() => tf.mean(t, 0))).toContain('AvgPool');
    expect(await kernels(() => tf.mean(t, 1))).not.toContain('AvgPool');
    t.dispose();
  });

  it('int32 sums stay exact (stock kernel)', async () => {
    const run = () => [tf.sum(tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2], 'int32'), 0)];
    await tf.setBackend('wasm');
    const t = tf.tidy(() => run()[0]);
    expect(t.dtype).toBe('int32');
    expect(Array.from(await t.data())).toEqual([9, 12]);
    t.dispose();
  });

  it('a long reduction (16384 rows, offset 3) is as accurate as float32 summation allows', async () => {
    const rows = 16384, cols = 8;
    const x = randn(new Rng('long'), rows * cols).map((v) => v + 3);
    const [sum, mean] = await runOn('wasm', () => {
      const t = tf.tensor2d(x, [rows, cols]);
      return [tf.sum(t, 0), tf.mean(t, 0)];
    });
    for (let c = 0; c < cols; c++) {
      let ref = 0;
      for (let i = 0; i < rows; i++) ref += x[i * cols + c];
      // Sequential float32 summation error is ~sqrt(n)*eps*|sum| typically; 1e-5 relative is generous.
      expect(Math.abs(sum[c] - ref)).toBeLessThanOrEqual(1e-5 * Math.abs(ref));
      expect(Math.abs(mean[c] - ref / rows)).toBeLessThanOrEqual(1e-5 * Math.abs(ref / rows));
    }
  });

  it('gradients through mean and sum over axis 0 match cpu, without leaks', async () => {
    const x = randn(new Rng('rgrad'), 12 * 4);
    const w = randn(new Rng('rgrad-w'), 4);
    const run = () => [tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.add(tf.mean(t, 0), tf.sum(tf.square(t), 0)), tf.tensor1d(w))))(tf.tensor2d(x, [12, 4]))];
    const ref = await runOn('cpu', run);
    const got = await runOn('wasm', run);
    expectAllClose(got[0], ref[0], 1e-5, 1e-6, 'grad');
    await tf.setBackend('wasm');
    const t = tf.tensor2d(x, [12, 4]);
    tf.dispose([tf.sum(t, 0), tf.mean(t, [0], true)]);
    const n = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) tf.dispose([tf.sum(t, 0), tf.mean(t, [0], true)]);
    expect(tf.memory().numTensors).toBe(n);
    t.dispose();
  });
});
