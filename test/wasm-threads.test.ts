// The multi-threaded wasm build loaded under Node (wasm-threads.ts): it must
// really run a 2-thread XNNPACK pool and give the cpu backend's numbers.
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadWasm } from '../src/backend/wasm.ts';
import { Rng } from '../src/util/rng.ts';
import { expectAllClose, randn, runOn, size } from './wasm-helpers.ts';

let detail = '';

beforeAll(async () => {
  const r = await loadWasm({ threads: 2 });
  expect(r.ok, JSON.stringify(r)).toBe(true);
  if (r.ok) detail = r.detail;
});

describe('loadWasm with threads', () => {
  it('rejects thread counts outside 1..8 without touching the backend', async () => {
    for (const t of [0, 9, 1.5]) {
      const r = await loadWasm({ threads: t });
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.reason).toMatch(/threads must be an integer in 1\.\.8/);
    }
  });

  it('a second call keeps the first registration', async () => {
    const r = await loadWasm({ threads: 1 });
    expect(r).toEqual({ ok: true, detail });
  });

  it('runs a 2-thread pool on the threaded build', async () => {
    expect(detail).toMatch(/2 threads \(threaded build\)/);
    expect(detail).toMatch(/Conv2DBackpropFilter/);
    await tf.setBackend('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(getThreadsCount()).toBe(2);
  });

  it('conv gradients and a matmul on the threaded build match cpu', async () => {
    const rng = new Rng('threads');
    // Big enough that XNNPACK splits the work across both threads.
    const xs: [number, number, number, number] = [4, 16, 16, 8];
    const ks: [number, number, number, number] = [3, 3, 8, 16];
    const x = randn(rng, size(xs)), k = randn(rng, size(ks));
    const a = randn(rng, 64 * 96), b = randn(rng, 96 * 48);
    const run = () => {
      const f = (p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.square(tf.conv2d(p as tf.Tensor4D, q as tf.Tensor4D, 2, 'same')));
      return [...tf.grads(f)([tf.tensor4d(x, xs), tf.tensor4d(k, ks)]), tf.matMul(tf.tensor2d(a, [64, 96]), tf.tensor2d(b, [96, 48]))];
    };
    const ref = await runOn('cpu', run);
    const got = await runOn('wasm', run);
    expectAllClose(got[0], ref[0], 1e-4, 1e-6, 'dx');
    expectAllClose(got[1], ref[1], 1e-4, 1e-6, 'dW');
    expectAllClose(got[2], ref[2], 1e-4, 1e-6, 'matmul');
  });
});
