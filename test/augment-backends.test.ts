// The augmentation pipeline on the other backends (wasm, native) against the
// cpu backend: the same seed must give the same views up to float32 rounding
// (the kernels differ only in summation order). Skipped where a backend does not load.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { TwoViewAugmenter, resolveAugment, type ImageBatchLike } from '../augment/index.ts';
import { nativeForTests } from './native-required.ts';
import { loadWasm } from '../src/backend/wasm.ts';
import { Rng } from '../src/util/rng.ts';

const backends = {
  native: await nativeForTests(1),
  wasm: (await loadWasm({ threads: 1 })).ok,
};

function batch(n: number, s: number, c: number): ImageBatchLike {
  const rng = new Rng('backends');
  return { data: Uint8Array.from({ length: n * s * s * c }, () => rng.int(256)), n, height: s, width: s, channels: c };
}

async function viewsOn(backend: string, preset: 'mocov3' | 'digits', b: ImageBatchLike, out: number, c: 1 | 3): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  // jitter and grayscale always on, and solarize often, so every stage runs
  const cfg = resolveAugment({ preset, jitter: { p: 1 }, view2: { solarize: { p: 0.5 }, blur: { p: 0.5 } } });
  const aug = new TwoViewAugmenter(cfg, { outSize: out, channels: c });
  const before = tf.memory().numTensors;
  const { view1, view2 } = aug.views(b, new Rng(5));
  const e = aug.evalTransform(b);
  const vals = [view1, view2, e].map((t) => Float32Array.from(t.dataSync()));
  tf.dispose([view1, view2, e]);
  expect(tf.memory().numTensors).toBe(before);
  return vals;
}

describe.each(Object.entries(backends))('augmentation on %s', (name, ok) => {
  it.skipIf(!ok)('matches the cpu backend (RGB, every stage) and leaks nothing', async () => {
    const b = batch(6, 20, 3);
    const cpu = await viewsOn('cpu', 'mocov3', b, 16, 3);
    const other = await viewsOn(name, 'mocov3', b, 16, 3);
    cpu.forEach((c, k) => {
      let worst = 0;
      for (let i = 0; i < c.length; i++) worst = Math.max(worst, Math.abs(c[i] - other[k][i]));
      expect(worst, `output ${k}`).toBeLessThan(1e-4);
    });
    await tf.setBackend('cpu');
  });

  it.skipIf(!ok)('matches the cpu backend (one channel)', async () => {
    const b = batch(5, 28, 1);
    const cpu = await viewsOn('cpu', 'digits', b, 28, 1);
    const other = await viewsOn(name, 'digits', b, 28, 1);
    cpu.forEach((c, k) => {
      for (let i = 0; i < c.length; i++) expect(Math.abs(c[i] - other[k][i])).toBeLessThan(1e-4);
    });
    await tf.setBackend('cpu');
  });
});
