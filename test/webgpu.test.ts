// SimCLR training steps (ResNet + projection head with batch norm + NT-Xent +
// SGD) on the webgpu backend against the TF.js cpu backend from the same
// initial weights, one step of each method without negatives, and a whole
// pretrain() run. Where Dawn finds no adapter the test says why and skips;
// with SELFSUP_REQUIRE_WEBGPU=1 (set by .ci/run once Mesa's llvmpipe is
// installed) it fails instead.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tinySimclr } from './tiny-simclr.ts';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadWebgpu, READ_SYNC_UNSUPPORTED } from '../src/backend/webgpu.ts';
import { loadRecipe } from '../src/recipe/index.ts';
import { loadCheckpoint } from '../src/train/checkpoint.ts';
import { Interrupted, type StopSignal } from '../src/train/signals.ts';
import { pretrain } from '../src/train/trainer.ts';
import { buildMethod } from '../src/methods/index.ts';
import { syntheticViews, tinyRecipe } from './moco-helpers.ts';

afterAll(async () => { tf.env().set('WEBGPU_CPU_FORWARD', true); await tf.setBackend('cpu'); });

interface RunOut { losses: number[]; weights: Map<string, Float32Array>; moving: Float32Array[]; tensorsPerStep: number[]; gpuBytesPerStep: number[] }

const STEPS = 3;

/** STEPS SGD steps from a fixed seed; losses, final weights and running statistics, tensor count after each step. */
async function train(): Promise<RunOut> {
  const { method, v1, v2 } = tinySimclr();
  const params = method.trainable();
  const sgd = tf.train.sgd(0.1);
  const losses: number[] = [];
  const tensorsPerStep: number[] = [];
  const gpuBytesPerStep: number[] = [];
  try {
    for (let s = 0; s < STEPS; s++) {
      const { value, grads } = tf.variableGrads(() => method.loss(v1, v2), params.map((p) => p.variable));
      // data(), not dataSync(): webgpu cannot read synchronously in Node (its readSync needs OffscreenCanvas).
      losses.push((await value.data())[0]);
      sgd.applyGradients(grads);
      value.dispose();
      tf.dispose(Object.values(grads));
      tensorsPerStep.push(tf.memory().numTensors);
      // The webgpu backend's own count of bytes in live GPU buffers (undefined elsewhere).
      gpuBytesPerStep.push((tf.memory() as { numBytesInGPU?: number }).numBytesInGPU ?? 0);
    }
    const weights = new Map<string, Float32Array>();
    for (const p of params) weights.set(p.name, Float32Array.from(await p.variable.data()));
    const moving: Float32Array[] = [];
    for (const m of method.state()) moving.push(Float32Array.from(await m.variable.data()));
    return { losses, weights, moving, tensorsPerStep, gpuBytesPerStep };
  } finally {
    sgd.dispose();
    method.dispose();
    tf.dispose([v1, v2]);
  }
}

function maxAbs(a: Float32Array): number {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
}

const load = await loadWebgpu();
if (!load.ok) {
  if (process.env.SELFSUP_REQUIRE_WEBGPU === '1') throw new Error(`SELFSUP_REQUIRE_WEBGPU=1 but the webgpu backend did not load: ${load.reason}`);
  console.warn(`test/webgpu.test.ts SKIPPED: ${load.reason}`);
}

describe.skipIf(!load.ok)('SimCLR steps, webgpu vs cpu', () => {
  it('gives the same losses, weights and running statistics, and leaks no tensor', async () => {
    await tf.setBackend('cpu');
    const cpu = await train();
    expect(await tf.setBackend('webgpu')).toBe(true);
    // Small ops on CPU-resident inputs would otherwise run on the cpu kernels; test the shaders.
    tf.env().set('WEBGPU_CPU_FORWARD', false);
    const before = tf.memory().numTensors;
    const gpu = await train();
    expect(tf.memory().numTensors).toBe(before);
    // Steady state: every step ends with the same number of live tensors.
    expect(new Set(gpu.tensorsPerStep).size).toBe(1);
    expect(gpu.gpuBytesPerStep[0]).toBeGreaterThan(0); // the weights live on the GPU
    expect(new Set(gpu.gpuBytesPerStep).size).toBe(1);
    expect(cpu.losses[STEPS - 1]).not.toBe(cpu.losses[0]); // the steps did something
    cpu.losses.forEach((l, i) => expect(Math.abs(gpu.losses[i] - l), `loss ${i}: ${gpu.losses[i]} vs ${l}`).toBeLessThan(1e-4 * Math.abs(l)));
    // After 3 steps through 6 batch norms at batch 12: 1e-3 of each tensor's scale.
    for (const [name, w] of cpu.weights) {
      const g = gpu.weights.get(name)!;
      const err = maxAbs(Float32Array.from(w, (v, i) => v - g[i]));
      expect(err, `${name}: ${err} vs scale ${maxAbs(w)}`).toBeLessThan(1e-3 * Math.max(1e-3, maxAbs(w)));
    }
    cpu.moving.forEach((m, i) => {
      const err = maxAbs(Float32Array.from(m, (v, k) => v - gpu.moving[i][k]));
      expect(err).toBeLessThan(1e-4 * Math.max(1, maxAbs(m)));
    });
  });

  it('says why dataSync fails on a tensor that lives on the GPU, and data() still works', async () => {
    expect(await tf.setBackend('webgpu')).toBe(true);
    tf.env().set('WEBGPU_CPU_FORWARD', false);
    const before = tf.memory().numTensors;
    const a = tf.tensor1d([1, 2, 3]);
    const b = tf.add(a, a); // computed by a shader: its values are on the GPU only
    expect(() => b.dataSync()).toThrow(READ_SYNC_UNSUPPORTED);
    expect(Array.from(await b.data())).toEqual([2, 4, 6]);
    tf.dispose([a, b]);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe.skipIf(!load.ok)('the methods without negatives, webgpu vs cpu', () => {
  // One step's loss and gradients of BYOL, SimSiam, Barlow Twins and VICReg from the same
  // initial weights and views (SimSiam's stop-gradient is a tf.customGrad, BYOL's targets come
  // from its momentum encoder outside the tape).
  let views: { a: Float32Array; b: Float32Array; shape: [number, number, number, number] };
  beforeAll(async () => {
    await tf.setBackend('cpu');
    const { view1, view2 } = syntheticViews(0, 8);
    views = { a: Float32Array.from(view1.dataSync()), b: Float32Array.from(view2.dataSync()), shape: view1.shape };
    tf.dispose([view1, view2]);
  });
  async function step(name: string, backend: 'cpu' | 'webgpu') {
    expect(await tf.setBackend(backend)).toBe(true);
    tf.env().set('WEBGPU_CPU_FORWARD', false);
    const m = await buildMethod(tinyRecipe({ name, momentum: 0.9 }, { batch_size: 8 }));
    const v1 = tf.tensor4d(views.a, views.shape);
    const v2 = tf.tensor4d(views.b, views.shape);
    const ctx = { step: 0, totalSteps: 10, epoch: 0 };
    const pre = m.beforeStep?.(v1, v2, ctx) ?? [];
    const params = m.trainable();
    const { value, grads } = tf.variableGrads(() => m.loss(v1, v2, ctx, pre), params.map((p) => p.variable));
    const loss = (await value.data())[0];
    const g = new Map<string, Float32Array>();
    for (const p of params) g.set(p.name, Float32Array.from(await grads[p.variable.name].data()));
    tf.dispose([value, v1, v2, ...pre, ...Object.values(grads)]);
    m.dispose();
    return { loss, grads: g };
  }

  it.each(['byol', 'simsiam', 'barlowtwins', 'vicreg'])('%s: same loss and gradients', async (name) => {
    const cpu = await step(name, 'cpu');
    const gpu = await step(name, 'webgpu');
    expect(Math.abs(gpu.loss - cpu.loss), `${gpu.loss} vs ${cpu.loss}`).toBeLessThan(1e-4 * Math.max(1, Math.abs(cpu.loss)));
    // Scale per tensor, floored at 1% of the largest gradient: some are zero in exact arithmetic
    // (Barlow Twins standardizes the projector's output, so its last bias has no effect) and
    // both backends then give float32 rounding noise.
    const largest = Math.max(...[...cpu.grads.values()].map(maxAbs));
    expect(largest).toBeGreaterThan(0);
    for (const [p, a] of cpu.grads) {
      const b = gpu.grads.get(p)!;
      const err = maxAbs(Float32Array.from(a, (v, i) => v - b[i]));
      expect(err, `${p}: ${err} vs scale ${maxAbs(a)}`).toBeLessThan(2e-3 * Math.max(1e-2 * largest, maxAbs(a)));
    }
  }, 60_000);
});

describe.skipIf(!load.ok)('pretrain() on webgpu', () => {
  // The whole trainer (loader, augmentation, step, checkpoints, resume, k-NN and retrieval
  // evaluation) on webgpu, which cannot read synchronously in Node, against the same run on cpu.
  const sets = [
    'data.limit_train=16', 'data.limit_test=16', 'train.batch_size=8', 'model.widths=[4,4,4]', 'model.head_hidden=8',
    'model.head_out=8', 'eval.knn_k=3', 'eval.every=0', 'log.every=1',
  ];
  /** A 2-epoch run (4 steps); `stopAfter` stops it there as Ctrl-C would (checkpoint, then Interrupted). */
  const runOn = async (backend: 'cpu' | 'webgpu', dir: string, resume: boolean, stopAfter?: number) => {
    expect(await tf.setBackend(backend)).toBe(true);
    tf.env().set('WEBGPU_CPU_FORWARD', false);
    const recipe = loadRecipe(undefined, [...sets, 'train.epochs=2']);
    let checks = 0; // the trainer looks at stop.reason once after every step
    const stop = { get reason() { return ++checks === stopAfter ? 'SIGINT' : null; } } as unknown as StopSignal;
    return pretrain({ recipe, runDir: dir, resume, backend, quiet: true, log: () => {}, stop });
  };
  const weightsOf = (path: string) => {
    const ck = loadCheckpoint(path);
    return new Map([...ck.tensors].filter(([name]) => !name.startsWith('optimizer/')));
  };

  it('trains, checkpoints, resumes and evaluates as on cpu; a host-mining method is refused by name', async () => {
    const root = mkdtempSync(join(tmpdir(), 'selfsup-webgpu-run-'));
    const cpu = await runOn('cpu', join(root, 'cpu'), false);
    await expect(runOn('webgpu', join(root, 'gpu'), false, 3)).rejects.toThrow(Interrupted);
    const gpu = await runOn('webgpu', join(root, 'gpu'), true); // resumes at step 3 from its checkpoint
    expect(gpu.steps).toBe(4);
    expect(gpu.backend).toBe('webgpu');
    expect(Math.abs(gpu.finalLoss! - cpu.finalLoss!)).toBeLessThan(1e-3 * Math.abs(cpu.finalLoss!));
    expect(gpu.knnAfter!.top1).toBeCloseTo(cpu.knnAfter!.top1, 6);
    const [w, g] = [weightsOf(cpu.checkpoint), weightsOf(gpu.checkpoint)];
    expect([...g.keys()].sort()).toEqual([...w.keys()].sort());
    for (const [name, a] of w) {
      const b = g.get(name)!;
      const err = maxAbs(Float32Array.from(a, (v, i) => v - b[i]));
      expect(err, `${name}: ${err} vs scale ${maxAbs(a)}`).toBeLessThan(2e-3 * Math.max(1e-2, maxAbs(a)));
    }
    expect(existsSync(join(gpu.runDir, 'backbone', 'model.json'))).toBe(true);

    // Triplet's miner reads the batch on the host inside the step: a clear UserError, not a stack trace.
    expect(await tf.setBackend('webgpu')).toBe(true);
    const triplet = loadRecipe(undefined, [...sets, 'method.name=triplet', 'train.epochs=1']);
    await expect(pretrain({ recipe: triplet, runDir: join(root, 'triplet'), resume: false, backend: 'webgpu', quiet: true, log: () => {} }))
      .rejects.toThrow(/--backend webgpu: method 'triplet' reads the batch on the host/);
  }, 240_000);
});
