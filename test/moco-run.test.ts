// A short MoCo v2 run on synthetic data through the trainer's StepRunner: the loss
// falls, and a checkpoint taken mid-run restores the key encoder, the queue and its
// pointer bit for bit, so the resumed run continues exactly.
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backboneFromRecipe } from '../src/methods/index.ts';
import { buildMoco, type MoCo } from '../src/methods/moco.ts';
import { createOptimizer, type Optimizer } from '../src/optim/index.ts';
import { loadCheckpoint, restoreVariables, saveCheckpoint, type NamedTensorSource } from '../src/train/checkpoint.ts';
import { StepRunner } from '../src/train/step.ts';
import type { Recipe } from '../src/recipe/index.ts';
import { Rng } from '../src/util/rng.ts';
import { syntheticViews, tinyRecipe } from './moco-helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'moco-run-'));
beforeAll(async () => { await tf.setBackend('cpu'); });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const TOTAL = 28;
const BATCH = 8;
const LR = (2 * BATCH) / 256;
const recipeFor = (bnSplits: number) =>
  tinyRecipe({ name: 'mocov2', queue_size: 32, temperature: 0.2, momentum: 0.9, bn_splits: bnSplits }, { batch_size: BATCH }, { lr: 2 });

interface Run { method: MoCo; optimizer: Optimizer; runner: StepRunner }
function freshRun(recipe: Recipe): Run {
  const rng = new Rng(`init:${recipe.train.seed}`);
  const method = buildMoco(recipe, backboneFromRecipe(recipe, rng), rng);
  const optimizer = createOptimizer(recipe.optim, method.trainable());
  return { method, optimizer, runner: new StepRunner(method, optimizer, method.trainable()) };
}
async function steps(run: Run, from: number, to: number): Promise<number[]> {
  const losses: number[] = [];
  for (let s = from; s < to; s++) {
    const { view1, view2 } = syntheticViews(s, BATCH, 0.05);
    losses.push((await run.runner.run(view1, view2, { step: s, totalSteps: TOTAL, epoch: 0 }, LR)).loss);
    view1.dispose(); view2.dispose();
  }
  return losses;
}
/** What the trainer checkpoints: parameters, method state, optimizer slots. */
function sources(run: Run): NamedTensorSource[] {
  return [
    ...run.method.trainable().map((p) => ({ name: p.name, group: 'param' as const, tensor: p.variable })),
    ...run.method.state().map((p) => ({ name: p.name, group: 'state' as const, tensor: p.variable })),
    ...run.optimizer.slots().map((s) => ({ name: `optimizer/${s.name}`, group: 'slot' as const, tensor: s.tensor })),
  ];
}
const snapshot = (run: Run) => new Map(sources(run).map((s) => [s.name, Array.from(s.tensor.dataSync())]));

/**
 * Runs `a` to `saveAt`, checkpoints, runs on to TOTAL; then builds a fresh run,
 * restores the checkpoint, checks the state is bit-identical to what was saved and
 * that the remaining steps give the same losses and end state bit for bit.
 */
async function checkExactResume(recipe: Recipe, a: Run, saveAt: number, end: number): Promise<void> {
  const path = await saveCheckpoint(join(dir, `ckpt-${recipe.method.bn_splits}`), { step: saveAt, epoch: 0, batchInEpoch: saveAt, method: a.method.name, recipe }, sources(a), 2);
  const atSave = snapshot(a);
  const tail = await steps(a, saveAt, end);
  const atEnd = snapshot(a);

  const b = freshRun(recipe);
  const ck = loadCheckpoint(path);
  restoreVariables(ck, [...b.method.trainable(), ...b.method.state()]);
  b.optimizer.loadSlots(new Map(b.optimizer.slots().map((s) => [s.name, ck.tensors.get(`optimizer/${s.name}`)!])));
  const restored = snapshot(b);
  for (const name of ['moco/queue/keys', 'moco/queue/pointer', 'key/backbone/stem/conv/kernel', 'key/head/fc2/bias', 'key/backbone/stem/bn/moving_variance']) {
    expect(restored.get(name), name).toEqual(atSave.get(name));
  }
  expect(b.method.queue!.position()).toBe((saveAt * BATCH) % 32);
  for (const [name, v] of atSave) expect(restored.get(name), name).toEqual(v);

  expect(await steps(b, saveAt, end)).toEqual(tail);
  const resumedEnd = snapshot(b);
  for (const [name, v] of atEnd) expect(resumedEnd.get(name), name).toEqual(v);
  b.optimizer.dispose(); b.method.dispose();
}

const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

describe('MoCo v2 short run', () => {
  it('loss falls, and a restored checkpoint continues bit for bit', async () => {
    const recipe = recipeFor(1);
    const a = freshRun(recipe);
    const losses = await steps(a, 0, 22);
    // 22 steps x 8 keys = 176 = 5 x 32 + 16: mid-queue. (After 24 steps the pointer is back at 0,
    // which a pointer that never moved would also show.)
    expect(a.method.queue!.position()).toBe(16);
    losses.push(...(await steps(a, 22, 24)));
    // The first steps contrast against the random initial queue (easy); once it holds
    // real keys (after 4 steps) the loss is near chance, log(33) = 3.5, and then falls.
    expect(mean(losses.slice(4, 9))).toBeGreaterThan(mean(losses.slice(-5)) + 0.3);
    await steps(a, 24, 26);
    await checkExactResume(recipe, a, 26, TOTAL); // saved with the pointer at 26 x 8 mod 32 = 16
    a.optimizer.dispose(); a.method.dispose();
  });

  it('resumes exactly with split batch norm (the per-step key shuffle is reproduced)', async () => {
    const recipe = recipeFor(2);
    const a = freshRun(recipe);
    await steps(a, 0, 3);
    await checkExactResume(recipe, a, 3, 5);
    a.optimizer.dispose(); a.method.dispose();
  });
});
