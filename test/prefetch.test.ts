// The view worker (src/train/prefetch.ts) against the main-thread path it replaces:
// same views bit for bit, step for step, on the native backend (2 threads on the main
// thread, 1 in the worker) and on the plain cpu backend; clean stops.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TwoViewAugmenter, resolveAugment, type AugmentInput } from '../augment/index.ts';
import type { LoadedBatch } from '../src/data/loader.ts';
import type { ImageBatch } from '../src/data/types.ts';
import { MainThreadViews, openViewSource, type ViewSource } from '../src/train/prefetch.ts';
import { Rng } from '../src/util/rng.ts';
import { nativeForTests } from './native-required.ts';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRecipe } from '../src/recipe/index.ts';
import { loadCheckpoint } from '../src/train/checkpoint.ts';
import { pretrain } from '../src/train/trainer.ts';

const hasNative = await nativeForTests(2);

function randomBatch(n: number, size: number, channels: number, label: string): ImageBatch {
  const rng = new Rng(label);
  const data = new Uint8Array(n * size * size * channels);
  for (let i = 0; i < data.length; i++) data[i] = rng.int(256);
  return { data, n, height: size, width: size, channels };
}

async function* batches(list: ImageBatch[]): AsyncGenerator<LoadedBatch> {
  for (const [index, batch] of list.entries()) yield { batch, indices: Int32Array.from({ length: batch.n }, (_, i) => i), index };
}

/** Asserts two tensors hold the same float32 values, bit for bit. */
function expectSame(a: tf.Tensor, b: tf.Tensor): void {
  expect(a.shape).toEqual(b.shape);
  const x = a.dataSync(), y = b.dataSync();
  let differ = 0;
  for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) differ++;
  expect(differ).toBe(0);
}

// mocov3 at 32 px exercises every stage: crop+flip, jitter, grayscale, blur (view 1), solarize (view 2).
const AUGMENTS: { name: string; augment: AugmentInput; channels: 1 | 3; inChannels: number }[] = [
  { name: 'simclr rgb', augment: { preset: 'simclr' }, channels: 3, inChannels: 3 },
  { name: 'mocov3 rgb, blur and solarize on', augment: { preset: 'mocov3', view1: { blur: { min_size: 0 } }, view2: { blur: { min_size: 0, p: 1 } } }, channels: 3, inChannels: 3 },
  { name: 'digits gray', augment: { preset: 'digits' }, channels: 1, inChannels: 1 },
];

describe.each(hasNative ? ['native', 'cpu'] : ['cpu'])('view worker on %s', (backend) => {
  beforeAll(async () => {
    await tf.setBackend(backend);
  });
  afterAll(async () => {
    await tf.setBackend(hasNative ? 'native' : 'cpu');
  });

  // On cpu one augmentation is enough: the worker machinery is the same, only the kernels differ.
  it.each(backend === 'native' ? AUGMENTS : AUGMENTS.slice(0, 1))('$name: same views as the main thread, bit for bit, step by step', async ({ augment, channels, inChannels }) => {
    const aug = new TwoViewAugmenter(resolveAugment(augment), { outSize: 32, channels });
    const list = [0, 1, 2].map((k) => randomBatch(6, 40, inChannels, `batch${k}`));
    const source = await openViewSource(aug, { seed: 7 });
    try {
      expect(source.where).toBe('worker');
      const main = new MainThreadViews(aug, 7);
      const before = tf.memory().numTensors;
      const seen: number[] = [];
      for await (const v of source.steps(batches(list), 5, 100)) {
        seen.push(v.step);
        expect(v.batch.batch).toBe(list[v.step - 5]);
        const ref = aug.views(v.batch.batch, new Rng(`views:7:${v.step}`));
        const viaMain = await main.views(v.batch.batch, v.step);
        expectSame(v.view1, ref.view1);
        expectSame(v.view2, ref.view2);
        expectSame(viaMain.view1, ref.view1);
        // The two views really differ (a source that sent view1 twice would fail here).
        expect(tf.tidy(() => tf.sub(v.view1, v.view2).abs().max().dataSync()[0])).toBeGreaterThan(0);
        tf.dispose([v.view1, v.view2, ref.view1, ref.view2, viaMain.view1, viaMain.view2]);
      }
      expect(seen).toEqual([5, 6, 7]);
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      await source.close();
    }
  });
});

describe('view worker lifecycle', () => {
  const aug = new TwoViewAugmenter(resolveAugment({ preset: 'simclr' }), { outSize: 16, channels: 3 });
  let source: ViewSource;
  beforeAll(async () => { source = await openViewSource(aug, { seed: 1 }); });
  afterAll(async () => { await source.close(); });

  it('stops at endStep, and a consumer that breaks early leaves no tensor behind', async () => {
    expect(source.where).toBe('worker');
    const list = [0, 1, 2, 3, 4].map((k) => randomBatch(4, 16, 3, `life${k}`));
    const before = tf.memory().numTensors;
    const steps: number[] = [];
    for await (const v of source.steps(batches(list), 0, 3)) {
      steps.push(v.step);
      tf.dispose([v.view1, v.view2]);
    }
    expect(steps).toEqual([0, 1, 2]);
    // Break after the first step: the views of step 1, made ahead, are disposed by the generator.
    for await (const v of source.steps(batches(list), 10, 20)) {
      tf.dispose([v.view1, v.view2]);
      break;
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a bad batch rejects with the worker\'s message and the worker keeps serving', async () => {
    const bad = { ...randomBatch(2, 16, 3, 'bad'), channels: 2 };
    await expect(source.views(bad, 0)).rejects.toThrow(/view worker: augment: images have 2 channels/);
    const good = await source.views(randomBatch(2, 16, 3, 'good'), 0);
    const ref = aug.views(randomBatch(2, 16, 3, 'good'), new Rng('views:1:0'));
    expectSame(good.view1, ref.view1);
    tf.dispose([good.view1, good.view2, ref.view1, ref.view2]);
  });

  it('close() ends the worker: later requests reject, a second close is harmless', async () => {
    const own = await openViewSource(aug, { seed: 1 });
    expect(own.where).toBe('worker');
    await own.close();
    await own.close();
    await expect(own.views(randomBatch(2, 16, 3, 'late'), 0)).rejects.toThrow(/after close/);
  });

  it('falls back to the main thread when asked, or for an augmenter the worker cannot rebuild', async () => {
    expect((await openViewSource(aug, { seed: 1, prefetch: false })).where).toBe('main');
    const custom = { mean: [0.5], std: [0.5], views: aug.views.bind(aug) };
    expect((await openViewSource(custom, { seed: 1 })).where).toBe('main');
  });
});

describe.skipIf(!hasNative)('pretrain() with the view worker', () => {
  it('gives the same losses and weights as views made on the main thread, and the worker starts and stops with the run', async () => {
    await tf.setBackend('native');
    const root = mkdtempSync(join(tmpdir(), 'selfsup-viewthread-'));
    const sets = ['data.limit_train=48', 'data.limit_test=16', 'train.batch_size=16', 'train.epochs=2', 'model.widths=[4,8,8]', 'eval.knn_k=3', 'eval.every=0', 'log.every=1'];
    const run = async (where: 'worker' | 'main') => {
      const notes: string[] = [];
      const r = await pretrain({ recipe: loadRecipe(undefined, [...sets, `train.view_thread=${where}`]), runDir: join(root, where), resume: false, backend: 'native', quiet: true, log: (m) => notes.push(m) });
      const losses = readFileSync(join(root, where, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { kind: string; loss?: number })
        .filter((x) => x.kind === 'train').map((x) => x.loss);
      return { r, losses, notes, weights: loadCheckpoint(r.checkpoint).tensors };
    };
    const before = tf.memory().numTensors;
    const main = await run('main');
    const worker = await run('worker');
    expect(worker.notes.join('\n')).not.toMatch(/view worker did not start/);
    expect(worker.losses).toHaveLength(6);
    expect(worker.losses).toEqual(main.losses);
    for (const [name, w] of main.weights) expect(Buffer.from(worker.weights.get(name)!.buffer).equals(Buffer.from(w.buffer)), name).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
  }, 120_000);
});
