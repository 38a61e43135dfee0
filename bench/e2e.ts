// End-to-end training throughput: `pretrain()` of a fixed SimCLR recipe on a
// folder of PNGs for a fixed number of steps (decode cache on disk -> loader ->
// two augmented views -> step -> metrics.jsonl + TensorBoard scalars -> final
// checkpoint), against PyTorch's DataLoader + torchvision pipeline doing the same
// work (bench/peer_torch.py --e2e), plus our step alone (same model, batch and
// threads, synthetic views) so the data overhead is visible, and a phase
// breakdown of an instrumented copy of the loop (where the time goes).
// Run: npx tsx bench/e2e.ts [--peer] [--json] [--steps N] [--batch N] [--threads N] [--size N]
//   (also `npx tsx bench/index.ts --e2e`)
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { useBackend } from '../src/backend/index.ts';
import { nativeBackend } from '../src/backend/native.ts';
import { closeSplits, Loader, openSplits } from '../src/data/index.ts';
import { EventWriter } from '../src/log/tensorboard.ts';
import { MetricsLog } from '../src/log/metrics.ts';
import { buildMethod } from '../src/methods/index.ts';
import { createOptimizer, lrScheduleFor } from '../src/optim/index.ts';
import { validateRecipe, type Recipe } from '../src/recipe/index.ts';
import { buildAugmenter } from '../src/train/augmenter.ts';
import { openViewSource } from '../src/train/prefetch.ts';
import { StepRunner } from '../src/train/step.ts';
import { pretrain } from '../src/train/trainer.ts';
import type { TwoViews } from '../augment/index.ts';
import { Rng } from '../src/util/rng.ts';
import { findTorchPython, TORCH_ENV } from './peer.ts';
import { REFERENCE, timeStep } from './step.ts';

export interface E2eOptions {
  json: boolean;
  peer: boolean;
  /** Training steps per run (after the decode cache is built). */
  steps?: number;
  batch?: number;
  /** PNGs written to the image folder. */
  images?: number;
  threads?: number;
  /** Python with torch + torchvision; undefined = look for one (with peer), null = none. */
  python?: string | null;
  /** Print the table (default: unless json). */
  print?: boolean;
}

/**
 * Image side. 32 by default (the peer comparison); `--size N` when this file is the
 * program, e.g. to see whether the view worker pays once blur is on (>= 64 px).
 * The PyTorch peer matches our work at 32 only (AUGMENT_MATCH): at >= 64 ours adds blur and it does not.
 */
const SIZE = mainSize() ?? 32;
const here = path.dirname(fileURLToPath(import.meta.url));
const say = (json: boolean, m: string) => { if (!json) console.log(m); else process.stderr.write(`${m}\n`); };

/**
 * n SIZE x SIZE RGB PNGs in `dir` (flat, unlabelled): MNIST digits from the `mnist` package, padded
 * to 32, painted in a seeded foreground colour over a seeded background with mild noise,
 * so crops, flips and colour jitter have something to act on.
 */
export async function writeDigitFolder(dir: string, n: number, seed = 0): Promise<void> {
  const mnist = createRequire(import.meta.url)('mnist') as Record<number, { length: number; get(i: number): number[] }>;
  const rng = new Rng(`e2e-images:${seed}`);
  fs.mkdirSync(dir, { recursive: true });
  const writes: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const d = i % 10;
    const digit = mnist[d].get(Math.floor(i / 10) % mnist[d].length);
    const fg = [rng.int(256), rng.int(256), rng.int(256)], bg = [rng.int(256), rng.int(256), rng.int(256)];
    const px = Buffer.alloc(SIZE * SIZE * 3);
    for (let y = 0; y < SIZE; y++) {
      for (let x = 0; x < SIZE; x++) {
        // The digit fills the image at any SIZE (nearest neighbour from the 32-px layout).
        const yy = Math.floor((y * 32) / SIZE), xx = Math.floor((x * 32) / SIZE);
        const inside = yy >= 2 && yy < 30 && xx >= 2 && xx < 30;
        const a = inside ? digit[(yy - 2) * 28 + (xx - 2)] : 0;
        for (let c = 0; c < 3; c++) {
          const v = a * fg[c] + (1 - a) * bg[c] + rng.int(17) - 8;
          px[(y * SIZE + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
        }
      }
    }
    writes.push(sharp(px, { raw: { width: SIZE, height: SIZE, channels: 3 } }).png().toFile(path.join(dir, `${String(i).padStart(5, '0')}.png`)));
    if (writes.length >= 64) await Promise.all(writes.splice(0));
  }
  await Promise.all(writes);
}

/**
 * The fixed workload: the reference model of bench/step.ts (ResNet 32/64/128, head
 * Linear-BN-ReLU-Linear 128-128), SimCLR T=0.5, SGD lr 0.1 momentum 0.9 (no decay, constant lr:
 * the same update as PyTorch's SGD), simclr preset (blur is off at 32x32, as in the paper's CIFAR runs).
 * Left on: metrics.jsonl + TensorBoard scalars every 10 steps, the progress line (quiet), one
 * checkpoint at the end. Off: the k-NN monitor (an unlabelled folder has nothing to score), view grids,
 * histograms, the backbone export.
 */
export function e2eRecipe(dataDir: string, cacheDir: string, steps: number, batch: number): Recipe {
  return validateRecipe({
    name: 'bench-e2e',
    data: { source: 'folder', path: dataDir, image_size: SIZE, channels: 3, labels: 'none', cache: cacheDir },
    augment: { preset: 'simclr' },
    model: { backbone: 'resnet', widths: [32, 64, 128], blocks: [1, 1, 1], head_hidden: 128, head_out: 128, head_batch_norm: true },
    method: { name: 'simclr', temperature: 0.5 },
    optim: { name: 'sgd', lr: 0.1, lr_scaling: 'none', momentum: 0.9, weight_decay: 0, warmup_epochs: 0, schedule: 'constant' },
    train: { epochs: 1000, max_steps: steps, batch_size: batch, seed: 0, checkpoint_every: 1000, keep_checkpoints: 1 },
    eval: { every: 0, plots: false },
    log: { tensorboard: true, every: 10, images_every: 0, histogram_every: 0 },
  }, 'bench/e2e.ts');
}

export interface PhaseBreakdown {
  /** Where the views were made: on the main thread between steps, or in the worker one step ahead. */
  views: 'main' | 'worker';
  steps: number;
  /**
   * Milliseconds per step, medians over the steps after the first two. main: `wait` for the
   * loader's batch, then `augment`; worker: `wait` covers both (the batch, then its views if not ready).
   */
  wait: number; augment: number; step: number; log: number;
  /** Mean wall time per step over the whole loop, first steps included. */
  total: number;
  /** Process CPU ms per step (all threads) over the whole loop: busy cores = cpu / total. */
  cpu: number;
  imgPerSec: number;
  steadyImgPerSec?: number;
}

/** The trainer's parts for recipe `r` (data, augmenter, method, optimizer, loader, step runner); close() frees them. */
async function openRig(r: Recipe) {
  const splits = await openSplits(r.data, { seed: r.train.seed, cacheDir: r.data.cache, log: () => {} });
  const { augmenter } = buildAugmenter(r, splits.pretrain.channels);
  const method = await buildMethod(r);
  const optimizer = createOptimizer(r.optim, method.trainable());
  const loader = new Loader(splits.pretrain, { batchSize: r.train.batch_size, dropLast: true, seed: r.train.seed, shuffle: true, prefetch: 2 });
  const runner = new StepRunner(method, optimizer, method.trainable());
  const close = () => { method.dispose(); optimizer.dispose(); closeSplits(splits); };
  return { augmenter, method, loader, runner, close };
}

/**
 * The trainer's loop re-assembled from the same parts (loader, views, StepRunner, metrics and
 * TensorBoard scalars every log.every steps, one event-loop turn per step), with a clock around
 * each phase. Checkpoints are left out. `prefetch` makes the views in the worker (src/train/prefetch.ts).
 */
export async function phaseBreakdown(r: Recipe, runDir: string, prefetch: boolean): Promise<PhaseBreakdown> {
  const rig = await openRig(r);
  const { augmenter, loader, runner } = rig;
  const lrAt = lrScheduleFor(r.optim, { batchSize: r.train.batch_size, stepsPerEpoch: loader.batchesPerEpoch(), totalSteps: r.train.max_steps });
  const source = await openViewSource(augmenter, { seed: r.train.seed, prefetch, log: (m) => process.stderr.write(`${m}\n`) });
  fs.mkdirSync(runDir, { recursive: true });
  const metrics = new MetricsLog(path.join(runDir, 'metrics.jsonl'));
  const events = new EventWriter(runDir, {});
  const rows: number[][] = [];
  const total = r.train.max_steps;
  let step = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const train = async (epoch: number, view1: tf.Tensor4D, view2: tf.Tensor4D) => {
    let out;
    try { out = await runner.run(view1, view2, { step, totalSteps: total, epoch }, lrAt(step)); } finally { tf.dispose([view1, view2]); }
    step++;
    return out;
  };
  const log = async (epoch: number, loss: number) => {
    if (step % r.log.every === 0) {
      metrics.write('train', step, epoch, { loss, lr: lrAt(step) });
      events.scalar('train/loss', loss, step);
      events.scalar('train/lr', lrAt(step), step);
    }
    await new Promise((res) => setImmediate(res));
  };
  try {
    for (let epoch = 0; step < total; epoch++) {
      if (source.where === 'worker') {
        let a = performance.now();
        for await (const v of source.steps(loader.epoch(epoch), step, total)) {
          const b = performance.now();
          const out = await train(epoch, v.view1, v.view2);
          const c = performance.now();
          await log(epoch, out.loss);
          rows.push([b - a, 0, c - b, performance.now() - c]);
          a = performance.now();
        }
        continue;
      }
      const it = loader.epoch(epoch)[Symbol.asyncIterator]();
      while (step < total) {
        const a = performance.now();
        const next = await it.next();
        if (next.done) break;
        const b = performance.now();
        const { view1, view2 } = await source.views(next.value.batch, step);
        const c = performance.now();
        const out = await train(epoch, view1, view2);
        const d = performance.now();
        await log(epoch, out.loss);
        rows.push([b - a, c - b, d - c, performance.now() - d]);
      }
      await it.return?.(undefined);
    }
  } finally {
    await source.close();
    events.close();
    rig.close();
  }
  const wall = performance.now() - t0;
  const cu = process.cpuUsage(c0);
  const steady = rows.slice(2);
  const med = (k: number) => { const v = steady.map((x) => x[k]).sort((p, q) => p - q); return round(v[Math.floor(v.length / 2)]); };
  return {
    views: source.where, steps: rows.length, wait: med(0), augment: med(1), step: med(2), log: med(3), total: round(wall / rows.length),
    cpu: round((cu.user + cu.system) / 1000 / rows.length), imgPerSec: round((rows.length * r.train.batch_size) / (wall / 1000)),
    steadyImgPerSec: steadyImgPerSec(path.join(runDir, 'metrics.jsonl'), r.train.batch_size),
  };
}

/** How a step's views are made in overlapAB. */
export type ViewMode = 'main' | 'main-1thread' | 'worker';

export interface OverlapAB {
  /** Steps per block; blocks cycle through the modes so that drift in machine load hits all alike. */
  block: number;
  rounds: number;
  /**
   * Per mode: median ms per step (batch wait + views + step + logging) and process CPU ms per step
   * (every thread), the first step of every block left out. main: views on the main thread with the
   * backend's threads; main-1thread: the same with oneDNN at one thread while the views are made;
   * worker: one step ahead in the view worker (one thread).
   */
  ms: Record<ViewMode, number>;
  cpuMs: Record<ViewMode, number>;
  /** ms.main / ms.worker: above 1 means the worker pays. */
  workerSpeedup: number;
}

/**
 * The ways of making views against each other in one loop that cycles main -> main-1thread ->
 * worker every `block` steps (same model, loader and seeds), `rounds` times.
 */
export async function overlapAB(r: Recipe, block: number, rounds: number): Promise<OverlapAB> {
  const rig = await openRig(r);
  const { augmenter, loader, runner } = rig;
  const main = await openViewSource(augmenter, { seed: r.train.seed, prefetch: false });
  const worker = await openViewSource(augmenter, { seed: r.train.seed });
  if (worker.where !== 'worker') throw new Error('bench/e2e.ts: the view worker did not start');
  const addon = nativeBackend()?.addon;
  const modes: ViewMode[] = ['main', 'main-1thread', 'worker'];
  const total = block * modes.length * rounds + 2; // two warm-up steps
  const samples: Record<ViewMode, number[][]> = { main: [], 'main-1thread': [], worker: [] };
  const modeOf = (s: number): ViewMode => (s < 2 ? 'main' : modes[Math.floor((s - 2) / block) % modes.length]);
  let ahead: Promise<TwoViews> | undefined;
  try {
    let step = 0;
    for (let epoch = 0; step < total; epoch++) {
      const it = loader.epoch(epoch)[Symbol.asyncIterator]();
      let next = await it.next();
      while (!next.done && step < total) {
        const t0 = performance.now(), c0 = process.cpuUsage();
        const mode = modeOf(step);
        const cur = next.value;
        let v: TwoViews;
        if (mode === 'worker') v = await (ahead ?? worker.views(cur.batch, step));
        else if (mode === 'main-1thread' && addon) {
          const before = addon.getThreads();
          addon.setThreads(1);
          try { v = await main.views(cur.batch, step); } finally { addon.setThreads(before); }
        } else v = await main.views(cur.batch, step);
        ahead = undefined;
        next = await it.next();
        // Worker mode: hand the next batch over before the step, as WorkerViews.steps() does.
        if (!next.done && step + 1 < total && modeOf(step + 1) === 'worker') ahead = worker.views(next.value.batch, step + 1);
        try { await runner.run(v.view1, v.view2, { step, totalSteps: total, epoch }, r.optim.lr); } finally { tf.dispose([v.view1, v.view2]); }
        await new Promise((res) => setImmediate(res));
        const c = process.cpuUsage(c0);
        if (step >= 2 && (step - 2) % block !== 0) samples[mode].push([performance.now() - t0, (c.user + c.system) / 1000]);
        step++;
      }
      if (ahead && (next.done || step >= total)) { const v = await ahead; tf.dispose([v.view1, v.view2]); ahead = undefined; }
      await it.return?.(undefined);
    }
  } finally {
    await worker.close();
    rig.close();
  }
  const med = (rows: number[][], k: number) => { const v = rows.map((x) => x[k]).sort((p, q) => p - q); return round(v[Math.floor(v.length / 2)]); };
  const per = (k: number) => Object.fromEntries(modes.map((m) => [m, med(samples[m], k)])) as Record<ViewMode, number>;
  const ms = per(0);
  return { block, rounds, ms, cpuMs: per(1), workerSpeedup: Math.round((ms.main / ms.worker) * 100) / 100 };
}

const round = (v: number) => Math.round(v * 10) / 10;

/**
 * Steady-state img/s from a run's metrics.jsonl (ours: ISO `time`; the peer's: epoch seconds):
 * images between the first 'train' line at or after step `from` and the last one, over the
 * time between them. Leaves out the warm-up steps and the final checkpoint on both sides.
 */
export function steadyImgPerSec(file: string, batch: number, from = 10): number | undefined {
  const recs = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as { kind: string; step: number; time: string | number })
    .filter((x) => x.kind === 'train');
  const a = recs.find((x) => x.step >= from), b = recs.at(-1);
  if (!a || !b || b.step <= a.step) return undefined;
  const secs = (t: string | number) => (typeof t === 'number' ? t : Date.parse(t) / 1000);
  return round((batch * (b.step - a.step)) / (secs(b.time) - secs(a.time)));
}

export interface TorchE2e {
  ok: boolean;
  reason?: string;
  source?: 'png' | 'cache';
  workers?: number;
  imgPerSec?: number;
  /** img/s after the warm-up steps (steadyImgPerSec). */
  steadyImgPerSec?: number;
  seconds?: number;
  /** Median ms of the step alone and of the wait for the DataLoader's batch. */
  stepMs?: number;
  waitMs?: number;
}



function runTorch(py: string, o: { data: string; source: 'png' | 'cache'; workers: number; steps: number; batch: number; threads: number; out: string }): TorchE2e {
  fs.mkdirSync(o.out, { recursive: true });
  const args = [path.join(here, 'peer_torch.py'), '--e2e', '--data', o.data, '--source', o.source, '--workers', String(o.workers), '--steps', String(o.steps),
    '--batch', String(o.batch), '--size', String(SIZE), '--threads', String(o.threads), '--out', o.out];
  const r = spawnSync(py, args, { encoding: 'utf8', timeout: 30 * 60_000, env: { ...process.env, ...TORCH_ENV } });
  if (r.status !== 0) return { ok: false, source: o.source, workers: o.workers, reason: `peer_torch.py --e2e failed: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}` };
  const j = JSON.parse(r.stdout.trim().split('\n').pop()!) as { img_per_s: number; seconds: number; step_ms: number; wait_ms: number };
  return {
    ok: true, source: o.source, workers: o.workers, imgPerSec: round(j.img_per_s), steadyImgPerSec: steadyImgPerSec(path.join(o.out, 'metrics.jsonl'), o.batch),
    seconds: round(j.seconds), stepMs: round(j.step_ms), waitMs: round(j.wait_ms),
  };
}

/** Whether this python has torchvision too (the end-to-end peer needs its transforms). */
function hasTorchvision(py: string): boolean {
  return spawnSync(py, ['-c', 'import torchvision'], { stdio: 'ignore', timeout: 60_000 }).status === 0;
}

export interface E2eResult {
  workload: string;
  augmentations: string;
  /** selfsup pretrain() as shipped; vsTorch = steady img/s over the best PyTorch configuration's. */
  ours: { imgPerSec: number; steadyImgPerSec?: number; seconds: number; steps: number; vsTorch?: number };
  loopMain: PhaseBreakdown & { vsTorch?: number };
  loopWorker: PhaseBreakdown & { vsTorch?: number };
  overlapAB: OverlapAB;
  stepOnly: { imgPerSec: number; msPerStep: number; cpuMsPerStep: number };
  torch: TorchE2e[];
  torchBest?: TorchE2e;
  torchReason?: string;
  torchEnv: Record<string, string>;
  loadavg: number[];
}

export async function run(opts: E2eOptions): Promise<E2eResult> {
  const steps = opts.steps ?? 40, batch = opts.batch ?? 128, nImages = opts.images ?? 2000;
  const threads = opts.threads ?? os.availableParallelism();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'selfsup-bench-e2e-'));
  const json = opts.json;
  try {
    const dataDir = path.join(tmp, 'images', 'all');
    await writeDigitFolder(dataDir, nImages);
    await useBackend('native', { threads });
    const cacheDir = path.join(tmp, 'cache');
    const r = e2eRecipe(dataDir, cacheDir, steps, batch);
    // Builds the decode cache (not timed: the trainer's clock starts after setup), so every run below reads it.
    await openSplits(r.data, { seed: 0, cacheDir, log: () => {} }).then(closeSplits);
    const cacheFile = fs.readdirSync(cacheDir).find((f) => f.endsWith('.u8'));

    let py = opts.peer ? (opts.python === undefined ? findTorchPython() : opts.python) : null;
    let peerReason = opts.peer ? undefined : 'not asked (--peer)';
    if (opts.peer && !py) peerReason = 'no python3 with torch (apt-get install python3-torch)';
    if (py && !hasTorchvision(py)) { peerReason = 'no torchvision (apt-get install python3-torchvision)'; py = null; }
    const torch: TorchE2e[] = [];
    const torchRun = (source: 'png' | 'cache', workers: number) => {
      if (!py) return;
      say(json, `bench e2e: pytorch, ${source === 'png' ? 'PNG decoded per read' : 'decode-cache records'}, ${workers} DataLoader workers...`);
      torch.push(runTorch(py, { data: source === 'png' ? dataDir : path.join(cacheDir, cacheFile!), source, workers, steps, batch, threads, out: path.join(tmp, `torch-${source}-${workers}`) }));
    };
    // PyTorch before and after ours, so slow drift in machine load hits both sides.
    for (const w of [0, 1, 2]) torchRun('png', w);

    say(json, `bench e2e: selfsup pretrain(), ${steps} steps at batch ${batch}...`);
    const res = await pretrain({ recipe: r, runDir: path.join(tmp, 'run'), resume: false, backend: 'native', quiet: true, exportBackbone: false });
    say(json, 'bench e2e: the same loop with views on the main thread / in the view worker...');
    const loopMain = await phaseBreakdown(r, path.join(tmp, 'loop-main'), false);
    const loopWorker = await phaseBreakdown(r, path.join(tmp, 'loop-worker'), true);
    const ab = await overlapAB(r, 4, 4);
    const st = await timeStep({ ...REFERENCE, batch }, { steps: 5, warmup: 2 });

    for (const w of [0, 2]) torchRun('cache', w);
    // Ratios of steady-state rates (after step 10, before the final checkpoint), best PyTorch configuration.
    const ok = torch.filter((t) => t.ok && t.steadyImgPerSec !== undefined);
    const best = ok.sort((a, b) => b.steadyImgPerSec! - a.steadyImgPerSec!)[0];
    const ratio = (v: number | undefined) => (best && v !== undefined ? Math.round((v / best.steadyImgPerSec!) * 100) / 100 : undefined);
    const oursSteady = steadyImgPerSec(path.join(tmp, 'run', 'metrics.jsonl'), batch);
    const result: E2eResult = {
      workload: `folder of ${nImages} PNGs ${SIZE}x${SIZE}x3, SimCLR ${REFERENCE.name}, batch ${batch}, ${steps} steps, ${threads} threads`,
      augmentations: AUGMENT_MATCH,
      ours: { imgPerSec: round(res.imagesPerSecond), steadyImgPerSec: oursSteady, seconds: round(res.seconds), steps: res.steps, vsTorch: ratio(oursSteady) },
      loopMain: { ...loopMain, vsTorch: ratio(loopMain.steadyImgPerSec) },
      loopWorker: { ...loopWorker, vsTorch: ratio(loopWorker.steadyImgPerSec) },
      overlapAB: ab,
      stepOnly: { imgPerSec: round(st.imgPerSec), msPerStep: round(st.msPerStep), cpuMsPerStep: round(st.cpuMsPerStep) },
      torch, torchBest: best, torchReason: peerReason, torchEnv: TORCH_ENV,
      loadavg: os.loadavg(),
    };
    if (opts.print ?? !json) console.log(e2eTable(result));
    return result;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** Which of the simclr preset's augmentations the PyTorch peer's torchvision pipeline matches. */
export const AUGMENT_MATCH =
  'same on both sides: RandomResizedCrop(32, scale 0.08-1, ratio 3/4-4/3), horizontal flip p=0.5, ColorJitter(0.8, 0.8, 0.8, 0.2) p=0.8, ' +
  'the four jitter ops in a random order per image with a clamp after each, RandomGrayscale p=0.2, normalize mean 0.5 std 0.5; no blur (the simclr ' +
  'preset turns it off below 64 px). Differences: torchvision resizes the crop with PIL (bilinear, antialiased) and shifts hue in HSV; ours samples ' +
  'the crop bilinearly (cropAndResize, no antialiasing) and rotates hue in the YIQ chroma plane (a colour matrix, as DALI).';

export function e2eTable(x: E2eResult): string {
  const f = (v: number | undefined) => (v === undefined ? '-' : v.toFixed(1));
  const rx = (v: number | undefined) => (v === undefined ? '-' : `${v.toFixed(2)}x`);
  const lines = [`end-to-end: ${x.workload} (load ${x.loadavg.map((v: number) => v.toFixed(1)).join(' ')})`];
  lines.push('  img/s: steady (steps 10..end, what the ratio compares) / whole run (warm-up and final checkpoint included)');
  lines.push(`  selfsup pretrain()                 ${f(x.ours.steadyImgPerSec)} / ${f(x.ours.imgPerSec)} img/s  vs torch ${rx(x.ours.vsTorch)}   (our step alone: ${f(x.stepOnly.imgPerSec)} img/s)`);
  for (const [name, l] of [['loop, views on the main thread', x.loopMain], ['loop, views in the view worker', x.loopWorker]] as const) {
    lines.push(`  ${name.padEnd(34)} ${f(l.steadyImgPerSec)} / ${f(l.imgPerSec)} img/s  vs torch ${rx(l.vsTorch)}   median ms/step: wait ${l.wait}, augment ${l.augment}, step ${l.step}, log ${l.log}; cpu ${l.cpu} ms/step`);
  }
  const ab = x.overlapAB;
  lines.push(`  views A/B/C (blocks of ${ab.block} steps, ${ab.rounds} rounds), median ms/step (cpu ms): ` +
    (Object.keys(ab.ms) as ViewMode[]).map((m) => `${m} ${ab.ms[m]} (${ab.cpuMs[m]})`).join(', ') + `; worker vs main ${ab.workerSpeedup}x`);
  if (!x.torch.length) lines.push(`  pytorch: unavailable: ${x.torchReason}`);
  for (const t of x.torch) {
    const name = `pytorch ${t.source === 'png' ? 'PNG' : 'cache'}, ${t.workers} workers`;
    lines.push(t.ok ? `  ${name.padEnd(34)} ${f(t.steadyImgPerSec)} / ${f(t.imgPerSec)} img/s  (median ms/step: step ${t.stepMs}, batch wait ${t.waitMs})` : `  ${name}: unavailable: ${t.reason}`);
  }
  lines.push(`  augmentations: ${x.augmentations}`);
  return lines.join('\n');
}

/** Only the views comparison (overlapAB), for repeated measurements: --views-only [--rounds N]. */
async function viewsOnly(rounds: number, batch: number, threads?: number): Promise<OverlapAB> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'selfsup-bench-e2e-'));
  try {
    const dataDir = path.join(tmp, 'images', 'all');
    await writeDigitFolder(dataDir, 2000);
    await useBackend('native', { threads: threads ?? os.availableParallelism() });
    const ab = await overlapAB(e2eRecipe(dataDir, path.join(tmp, 'cache'), 0, batch), 4, rounds);
    console.error(`views A/B/C (load ${os.loadavg().map((v) => v.toFixed(1)).join(' ')}): ${JSON.stringify(ab)}`);
    return ab;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function mainSize(): number | undefined {
  if (!process.argv[1] || fileURLToPath(import.meta.url) !== process.argv[1]) return undefined;
  const v = argValue(process.argv.slice(2), '--size');
  return v ? Number(v) : undefined;
}

function argValue(argv: string[], flag: string): string | undefined {
  const i = argv.indexOf(flag);
  return i >= 0 ? argv[i + 1] : undefined;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const argv = process.argv.slice(2);
  const num = (f: string) => (argValue(argv, f) ? Number(argValue(argv, f)) : undefined);
  const json = argv.includes('--json');
  const res = argv.includes('--views-only')
    ? await viewsOnly(num('--rounds') ?? 6, num('--batch') ?? 128, num('--threads'))
    : await run({ json, peer: argv.includes('--peer'), steps: num('--steps'), batch: num('--batch'), images: num('--images'), threads: num('--threads') });
  if (json) console.log(JSON.stringify(res));
}
