// The pretraining loop. It reads top-down like DESIGN.md's picture:
// data source -> loader -> two views -> method (encoder, head, loss) -> optimizer,
// with k-NN evaluation, checkpoints and logs around it.
import * as tf from '@tensorflow/tfjs';
import { join } from 'node:path';
import { closeSplits, openSplits } from '../data/index.ts';
import { Loader } from '../data/loader.ts';
import { samplerOption } from '../data/sampler.ts';
import type { Splits } from '../data/types.ts';
import type { EvalTransform } from '../eval/features.ts';
import { outputsAreFinite } from '../eval/finite-outputs.ts';
import { EventWriter } from '../log/tensorboard.ts';
import { MetricsLog } from '../log/metrics.ts';
import { Progress } from '../log/progress.ts';
import { viewPairsGrid } from '../log/view-grid.ts';
import { buildMethod, type Method } from '../methods/index.ts';
import { createOptimizer, lrScheduleFor, type Optimizer } from '../optim/index.ts';
import { saveRecipe, type Recipe } from '../recipe/index.ts';
import { UserError } from '../util/errors.ts';
import { buildAugmenter, type Augmenter } from './augmenter.ts';
import { listCheckpoints, loadNewestGoodCheckpoint, restoreVariables, saveCheckpoint, type NamedTensorSource } from './checkpoint.ts';
import { evalScores, knnScore, type KnnScore } from './monitor.ts';
import type { RetrievalScore } from '../eval/retrieval.ts';
import { isSupervised, SELF_SUPERVISED, usesTemperature } from '../recipe/sections/method.ts';
import { writeRunPlots } from './run-plots.ts';
import { ensureDir, runPaths, type RunPaths } from './run-folder.ts';
import { Interrupted, isStopped, NonFiniteError, StopSignal } from './signals.ts';
import { hookPoint } from '../util/test-hooks.ts';
import { acquireLock, type HeldLock } from '../util/lock.ts';
import { StepRunner } from './step.ts';
import { openViewSource } from './prefetch.ts';
import { READ_SYNC_UNSUPPORTED } from '../backend/webgpu.ts';
import { checkWasmBudget } from '../backend/wasm-budget.ts';

export interface PretrainOptions {
  recipe: Recipe;
  runDir: string;
  resume: boolean;
  /** Name of the active backend, recorded in the summary. */
  backend: string;
  quiet?: boolean;
  /** Also score the random-init encoder before training (the quickstart does). */
  knnBefore?: boolean;
  /** Export the backbone into the run folder at the end. */
  exportBackbone?: boolean;
  log?: (msg: string) => void;
  /** Installed by the CLI; tests leave it out. */
  stop?: StopSignal;
}

export interface PretrainResult {
  runDir: string;
  backend: string;
  method: string;
  steps: number;
  epochs: number;
  images: number;
  seconds: number;
  imagesPerSecond: number;
  firstLoss?: number;
  finalLoss?: number;
  knnBefore?: KnnScore;
  knnAfter?: KnnScore;
  /** Retrieval on the labelled test split (unseen classes under data.class_split), before and after training. */
  retrievalBefore?: RetrievalScore;
  retrievalAfter?: RetrievalScore;
  checkpoint: string;
  backbone?: string;
}

interface Run {
  recipe: Recipe; paths: RunPaths; splits: Splits; method: Method; optimizer: Optimizer; loader: Loader;
  augmenter: Augmenter; evalTransform: EvalTransform; stepsPerEpoch: number; totalSteps: number;
  lrAt: (step: number) => number; metrics: MetricsLog; events?: EventWriter;
  /** The run folder's lock: two pretrain --out DIR at once would interleave checkpoints and metrics. */
  lock: HeldLock;
}

async function setUp(o: PretrainOptions): Promise<Run> {
  const r = o.recipe;
  // A step that cannot fit the wasm heap crashes (or hangs) inside XNNPACK: refuse it before anything runs.
  checkWasmBudget(r, tf.getBackend());
  const paths = runPaths(o.runDir);
  // Data first: a bad path fails before anything is written.
  const splits = await openSplits(r.data, { seed: r.train.seed, cacheDir: join('checkpoints', '.cache'), log: o.log });
  if (splits.pretrain.n < r.train.batch_size && r.train.drop_last) {
    throw new UserError(`train.batch_size: ${r.train.batch_size} is larger than the pretraining split (${splits.pretrain.n} images from ${splits.pretrain.name}) with train.drop_last: true`);
  }
  if (isSupervised(r.method.name) && !splits.pretrain.labels) {
    throw new UserError(`method.name: ${r.method.name} learns from labels, and the pretraining split ${splits.pretrain.name} has none; use labelled data (e.g. class subfolders) or a self-supervised method (${SELF_SUPERVISED.join(', ')})`);
  }
  if (isSupervised(r.method.name) && r.data.sampler !== 'm_per_class') {
    o.log?.(`note: ${r.method.name} with data.sampler: ${r.data.sampler} may see few same-class pairs per batch; data.sampler: m_per_class guarantees them`);
  }
  const { augmenter, evalTransform } = buildAugmenter(r, splits.pretrain.channels);
  const method = await buildMethod(r);
  const optimizer = createOptimizer(r.optim, method.trainable());
  const loader = new Loader(splits.pretrain, {
    batchSize: r.train.batch_size, dropLast: r.train.drop_last, seed: r.train.seed, shuffle: true, prefetch: 2, sampler: samplerOption(r.data),
  });
  if (loader.sampler) o.log?.(loader.sampler.describe());
  const stepsPerEpoch = loader.batchesPerEpoch();
  const scheduled = r.train.epochs * stepsPerEpoch;
  const totalSteps = r.train.max_steps > 0 ? Math.min(r.train.max_steps, scheduled) : scheduled;
  // The lr schedule spans the epochs asked for even when max_steps cuts the run short.
  const lrAt = lrScheduleFor(r.optim, { batchSize: r.train.batch_size, stepsPerEpoch, totalSteps: scheduled });
  ensureDir(paths.dir);
  let lock: HeldLock;
  try {
    lock = acquireLock(join(paths.dir, '.lock'), { what: 'run folder', command: 'selfsup pretrain', log: o.log });
  } catch (e) {
    method.dispose();
    optimizer.dispose();
    closeSplits(splits);
    throw e;
  }
  try {
    const metrics = new MetricsLog(paths.metrics);
    const events = r.log.tensorboard ? new EventWriter(paths.dir, {}) : undefined;
    return { recipe: r, paths, splits, method, optimizer, loader, augmenter, evalTransform, stepsPerEpoch, totalSteps, lrAt, metrics, events, lock };
  } catch (e) {
    lock.release();
    throw e;
  }
}

function checkpointSources(run: Run): NamedTensorSource[] {
  return [
    ...run.method.trainable().map((p) => ({ name: p.name, group: 'param' as const, tensor: p.variable })),
    ...run.method.state().map((p) => ({ name: p.name, group: 'state' as const, tensor: p.variable })),
    ...run.optimizer.slots().map((s) => ({ name: `optimizer/${s.name}`, group: 'slot' as const, tensor: s.tensor })),
  ];
}

/** Restores the newest checkpoint of the run folder that verifies; returns the step to continue from. */
function restore(run: Run, log: (msg: string) => void): { step: number; path?: string } {
  const ck = loadNewestGoodCheckpoint(run.paths.ckpt, (msg) => log(`warning: ${msg}`));
  if (!ck) return { step: 0 };
  if (!ck.verified) log(`note: ${ck.path} has no checksum (written by an older selfsup); loaded unverified`);
  if (ck.meta.method !== run.method.name) {
    throw new UserError(`--resume: checkpoint ${ck.path} is from method '${ck.meta.method}', the recipe says '${run.method.name}'`);
  }
  restoreVariables(ck, [...run.method.trainable(), ...run.method.state()]);
  const slots = new Map<string, Float32Array>();
  for (const s of run.optimizer.slots()) {
    const t = ck.tensors.get(`optimizer/${s.name}`);
    if (!t) throw new UserError(`--resume: checkpoint ${ck.path} has no optimizer state '${s.name}' (was it written with optim.name=${run.recipe.optim.name}?)`);
    slots.set(s.name, t);
  }
  run.optimizer.loadSlots(slots);
  return { step: ck.meta.step, path: ck.path };
}

async function writeCheckpoint(run: Run, step: number, extra: Record<string, unknown>): Promise<string> {
  await assertFiniteWeights(run, step);
  await assertFiniteOutputs(run, step);
  const epoch = Math.floor(step / run.stepsPerEpoch);
  return saveCheckpoint(run.paths.ckpt, {
    step, epoch, batchInEpoch: step % run.stepsPerEpoch, method: run.method.name, recipe: run.recipe, extra,
  }, checkpointSources(run), run.recipe.train.keep_checkpoints);
}

async function assertFiniteWeights(run: Run, step: number): Promise<void> {
  // One read for all weights (a sum per weight, stacked): a GPU backend pays per read-back.
  const sums = tf.tidy(() => tf.stack(run.method.trainable().map((p) => tf.sum(p.variable))));
  const values = await sums.data();
  sums.dispose();
  const i = values.findIndex((v) => !Number.isFinite(v));
  const bad = i >= 0 ? run.method.trainable()[i] : undefined;
  if (bad) throw new NonFiniteError(`weight '${bad.name}' is not finite`, step, listCheckpoints(run.paths.ckpt).at(-1), divergenceHint(run.recipe));
}

/** What to change after a divergence: the learning rate, and the temperature where the loss has one; with `lr`, their current values. */
function divergenceHint(r: Recipe, lr?: number): string {
  const now = (v: string | number) => (lr === undefined ? '' : ` (now ${v})`);
  const temperature = usesTemperature(r.method.name) ? ` or a higher method.temperature${now(r.method.temperature)}` : '';
  return `Try a lower optim.lr${now(lr?.toPrecision(3) ?? '')}${temperature}.`;
}

/**
 * Finite weights can still be diverged: one huge last update leaves weights whose activations
 * overflow float32, and the final k-NN, plots and export would then run on NaN features. One
 * forward pass of two images per checkpoint, in inference mode as evaluation and export use it.
 */
async function assertFiniteOutputs(run: Run, step: number): Promise<void> {
  const r = run.recipe;
  if (await outputsAreFinite(run.method.backbone, [r.data.image_size, r.data.image_size, r.data.channels])) return;
  throw new NonFiniteError('the weights are finite but the backbone gives non-finite outputs (NaN or Infinity)', step, listCheckpoints(run.paths.ckpt).at(-1),
    divergenceHint(r));
}

export async function pretrain(o: PretrainOptions): Promise<PretrainResult> {
  const log = o.log ?? (() => {});
  const run = await setUp(o);
  const r = run.recipe;
  try {
    let step = 0;
    if (o.resume) {
      const res = restore(run, log);
      step = res.step;
      if (res.path) log(`resuming from ${res.path} (step ${step} of ${run.totalSteps})`);
      else log(`--resume: no checkpoint in ${run.paths.ckpt}; starting from scratch`);
    }
    saveRecipe(r, run.paths.recipe);
    const result: PretrainResult = {
      runDir: run.paths.dir, backend: o.backend, method: run.method.name, steps: step, epochs: r.train.epochs,
      images: 0, seconds: 0, imagesPerSecond: 0, checkpoint: '',
    };
    if (o.knnBefore && step === 0) {
      const before = await evalScores(run.method, run.splits, r.eval, run.evalTransform);
      result.knnBefore = before.knn;
      if (result.knnBefore) {
        run.metrics.write('knn', 0, 0, { top1: result.knnBefore.top1, top5: result.knnBefore.top5, when: 'init' });
        log(`k-NN (random init): top-1 ${(100 * result.knnBefore.top1).toFixed(2)}%  top-5 ${(100 * result.knnBefore.top5).toFixed(2)}%`);
      }
      result.retrievalBefore = before.retrieval;
      if (result.retrievalBefore) {
        run.metrics.write('retrieval', 0, 0, { ...flatRetrieval(result.retrievalBefore), when: 'init' });
        log(`retrieval (${r.model.init ? 'model.init' : 'random init'}): ${describeRetrieval(result.retrievalBefore)}`);
      }
    }
    await trainLoop(run, o, step, result);
    const after = await evalScores(run.method, run.splits, r.eval, run.evalTransform);
    result.knnAfter = after.knn;
    if (result.knnAfter) {
      run.metrics.write('knn', result.steps, r.train.epochs, { top1: result.knnAfter.top1, top5: result.knnAfter.top5, when: 'final' });
      run.events?.scalar('eval/knn_top1', result.knnAfter.top1, result.steps);
    }
    result.retrievalAfter = after.retrieval;
    if (result.retrievalAfter) {
      run.metrics.write('retrieval', result.steps, r.train.epochs, { ...flatRetrieval(result.retrievalAfter), when: 'final' });
      for (const [k, v] of Object.entries(flatRetrieval(result.retrievalAfter))) run.events?.scalar(`eval/${k}`, v, result.steps);
      log(`retrieval (trained): ${describeRetrieval(result.retrievalAfter)}`);
    }
    await writeRunPlots(run.paths.dir);
    if (o.exportBackbone !== false) {
      const { exportBackbone } = await import('../export/backbone.ts');
      const { recipePreprocessing } = await import('../export/preprocessing.ts');
      await exportBackbone(run.method.backbone, run.paths.backbone, {
        inputShape: [r.data.image_size, r.data.image_size, r.data.channels], preprocessing: recipePreprocessing(r),
      });
      result.backbone = run.paths.backbone;
    }
    return result;
  } finally {
    run.events?.close();
    run.method.dispose();
    run.optimizer.dispose();
    closeSplits(run.splits);
    run.lock.release();
  }
}

async function trainLoop(run: Run, o: PretrainOptions, startStep: number, result: PretrainResult): Promise<void> {
  const r = run.recipe;
  const runner = new StepRunner(run.method, run.optimizer, run.method.trainable());
  const progress = new Progress({ title: `${r.name} ${run.method.name}`, total: run.totalSteps, quiet: o.quiet });
  progress.start(startStep);
  const t0 = Date.now();
  let step = startStep;
  let lastCkpt = listCheckpoints(run.paths.ckpt).at(-1) ?? '';
  let lastLoss: number | undefined;
  let lastKnn: number | undefined;
  // Views depend only on (seed, step), wherever they are made: a resumed run sees exactly the same ones.
  const views = await openViewSource(run.augmenter, { seed: r.train.seed, prefetch: useViewWorker(r, run.totalSteps - step), log: o.log });
  try {
    for (let epoch = Math.floor(step / run.stepsPerEpoch); epoch < r.train.epochs && step < run.totalSteps; epoch++) {
      const startBatch = step - epoch * run.stepsPerEpoch;
      for await (const { batch: b, view1, view2 } of views.steps(run.loader.epoch(epoch, startBatch), step, run.totalSteps)) {
        const ctx = { step, totalSteps: run.totalSteps, epoch, labels: b.labels };
        const lr = run.lrAt(step);
        if (run.events && r.log.images_every > 0 && b.index === 0 && epoch % r.log.images_every === 0) {
          const g = await viewPairsGrid(view1, view2, run.augmenter.mean, run.augmenter.std);
          run.events.imagePixels('train/views', g.pixels, g.width, g.height, g.channels, step);
        }
        let out;
        try {
          out = await runner.run(view1, view2, ctx, lr);
        } catch (e) {
          // Host-side mining (triplet/contrastive miners, exact all-triplets) reads the batch synchronously.
          if ((e as Error).message === READ_SYNC_UNSUPPORTED) {
            throw new UserError(`--backend ${tf.getBackend()}: method '${r.method.name}' reads the batch on the host during the step (its miner or reducer), which this backend cannot do synchronously in Node; train it on native, tensorflow or wasm`);
          }
          throw e;
        } finally { view1.dispose(); view2.dispose(); }
        if (!Number.isFinite(out.loss)) {
          throw new NonFiniteError(`loss is ${out.loss}`, step, lastCkpt || undefined, divergenceHint(r, lr));
        }
        if (result.firstLoss === undefined) result.firstLoss = out.loss;
        lastLoss = out.loss;
        step++;
        result.images += b.batch.n;
        if (step % r.log.every === 0 || step === run.totalSteps) {
          const ips = progress.imagesPerSecond();
          run.metrics.write('train', step, epoch, { loss: out.loss, lr, images_per_sec: ips, ...out.extra });
          run.events?.scalar('train/loss', out.loss, step);
          run.events?.scalar('train/lr', lr, step);
          run.events?.scalar('train/images_per_sec', ips, step);
          for (const [k, v] of Object.entries(out.extra)) run.events?.scalar(`train/${k}`, v, step);
        }
        if (r.log.histogram_every > 0 && step % r.log.histogram_every === 0 && run.events) {
          for (const p of run.method.trainable()) run.events.histogram(`weights/${p.name}`, (await p.variable.data()) as Float32Array, step);
        }
        progress.update(step, b.batch.n, { epoch: epoch + 1, loss: out.loss, lr, ...(lastKnn !== undefined ? { knn: `${(100 * lastKnn).toFixed(1)}%` } : {}) });
        hookPoint(`step-${step}`);
        // Let the event loop run once per step: signal handlers only fire on a macrotask turn.
        await new Promise((res) => setImmediate(res));
        if (o.stop?.reason) {
          const path = await writeCheckpoint(run, step, { loss: out.loss });
          progress.stop();
          throw new Interrupted(o.stop.reason, path, run.paths.dir);
        }
      }
      const endOfEpoch = step % run.stepsPerEpoch === 0;
      const done = step >= run.totalSteps;
      if (endOfEpoch && r.eval.every > 0 && (epoch + 1) % r.eval.every === 0 && !done) {
        hookPoint('phase-knn-monitor');
        let s;
        try {
          s = await knnScore(run.method.backbone, run.splits, r.eval, run.evalTransform);
        } catch (e) {
          // A signal during the monitor: the weights of this step are whole, so save them as after a step.
          if (!isStopped(e)) throw e;
          const path = await writeCheckpoint(run, step, { loss: lastLoss });
          progress.stop();
          throw new Interrupted(e.reason, path, run.paths.dir);
        }
        if (s) {
          lastKnn = s.top1;
          run.metrics.write('knn', step, epoch + 1, { top1: s.top1, top5: s.top5, when: 'monitor' });
          run.events?.scalar('eval/knn_top1', s.top1, step);
        }
      }
      if (done || (endOfEpoch && (epoch + 1) % r.train.checkpoint_every === 0)) {
        lastCkpt = await writeCheckpoint(run, step, { loss: lastLoss });
      }
    }
    if (step > startStep && !lastCkpt.endsWith(String(step).padStart(8, '0'))) lastCkpt = await writeCheckpoint(run, step, { loss: lastLoss });
  } finally {
    progress.stop();
    await views.close();
  }
  const secs = (Date.now() - t0) / 1000;
  Object.assign(result, {
    steps: step, seconds: secs, imagesPerSecond: secs > 0 ? result.images / secs : 0, finalLoss: lastLoss, checkpoint: lastCkpt,
  });
  run.metrics.write('summary', step, Math.floor(step / run.stepsPerEpoch), { loss: lastLoss, images_per_sec: result.imagesPerSecond, seconds: secs });
}

/**
 * train.view_thread: `worker` makes each step's views one step ahead in a worker thread
 * (native and cpu backends). Measured end to end at 32x32 (bench/e2e.ts --views-only):
 * 1.08x median while augmentation took ~70 ms of a step, 0.99-1.01x since the native
 * crop/clip kernels brought it to ~18 ms. `auto` does so only for runs of at least 100
 * steps, where the worker's start (its own TF.js and oneDNN set-up, ~200 MB) can pay back.
 */
function useViewWorker(r: Recipe, stepsLeft: number): boolean {
  const w = r.train.view_thread;
  return w === 'worker' || (w === 'auto' && stepsLeft >= 100);
}

/** Retrieval numbers as flat scalars for metrics.jsonl and TensorBoard (recall_at.K -> recall_at_K). */
function flatRetrieval(s: RetrievalScore): Record<string, number> {
  const out: Record<string, number> = { precision_at_1: s.precision_at_1, r_precision: s.r_precision, map_at_r: s.map_at_r };
  for (const [k, v] of Object.entries(s.recall_at)) out[`recall_at_${k}`] = v;
  return out;
}

function describeRetrieval(s: RetrievalScore): string {
  const p = (x: number) => `${(100 * x).toFixed(2)}%`;
  return `P@1 ${p(s.precision_at_1)}  R-Precision ${p(s.r_precision)}  MAP@R ${p(s.map_at_r)} (${s.num_queries} queries)`;
}
