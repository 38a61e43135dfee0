// Shared by the wasm tests: seeded data, running the same computation on two
// backends, and a tolerance check that names the worst element.
import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';
import { Rng } from '../src/util/rng.ts';

export function randn(rng: Rng, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}

export function size(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Runs `f` on `backend` and returns every output's values (all tensors made inside are disposed). */
export async function runOn(backend: string, f: () => tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const outs = tf.tidy(f);
  const vals = await Promise.all(outs.map(async (t) => (await t.data()) as Float32Array));
  tf.dispose(outs);
  return vals;
}

/** |a - b| <= rel * max|b| + abs, elementwise; float32 sums of a few hundred terms stay far inside rel = 1e-4. */
export function expectAllClose(a: Float32Array, b: Float32Array, rel = 1e-4, abs = 1e-6, label = ''): void {
  expect(a.length, `${label} length`).toBe(b.length);
  let scale = 0;
  for (const v of b) scale = Math.max(scale, Math.abs(v));
  const tol = rel * scale + abs;
  let worst = 0, at = -1;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= worst)) { worst = d; at = i; }
  }
  expect(worst, `${label}: worst |diff| at ${at}: ${a[at]} vs ${b[at]} (scale ${scale})`).toBeLessThanOrEqual(tol);
}
