// Where a training step's two views are made. On the main thread (as the trainer
// always did), or one step ahead in a worker thread: while step s runs on the main
// thread, the worker augments the batch of step s+1, so its views are ready when
// step s ends. Either way the views of step s are drawn from Rng(`views:${seed}:${step}`)
// and computed by the same tfjs kernels on the same backend, so a run gives the same
// views bit for bit with the worker or without it (test/prefetch.test.ts).
import * as tf from '@tensorflow/tfjs';
import { Worker } from 'node:worker_threads';
import { TwoViewAugmenter, type AugmenterOptions, type ResolvedAugment, type TwoViews } from '../../augment/index.ts';
import type { LoadedBatch } from '../data/loader.ts';
import type { ImageBatch } from '../data/types.ts';
import { Rng } from '../util/rng.ts';
import type { Augmenter } from './augmenter.ts';

/** One training step's input: the loader's batch, its global step, and its two views (owned by the caller). */
export interface StepViews extends TwoViews {
  batch: LoadedBatch;
  step: number;
}

export interface ViewSource {
  /** 'worker' when the views are made one step ahead in a worker thread. */
  readonly where: 'worker' | 'main';
  /** The two views of `batch` at global step `step`; the caller disposes them. */
  views(batch: ImageBatch, step: number): Promise<TwoViews>;
  /**
   * The loader's batches with their views, steps firstStep, firstStep+1, ... up to (not
   * including) endStep. Stopping early (break, throw) disposes views made ahead.
   */
  steps(batches: AsyncIterable<LoadedBatch>, firstStep: number, endStep: number): AsyncGenerator<StepViews>;
  /** Stops the worker (if any); idempotent. */
  close(): Promise<void>;
}

export interface ViewSourceOptions {
  /** train.seed: step s draws from Rng(`views:${seed}:${s}`). */
  seed: number;
  /** Make views in a worker thread one step ahead (default true; only on the native and cpu backends). */
  prefetch?: boolean;
  /** oneDNN threads in the worker (default 1: the step keeps the others). */
  threads?: number;
  log?: (msg: string) => void;
}

/** Backends whose kernels a worker thread can run too, with the same numbers. */
const WORKER_BACKENDS = new Set(['native', 'cpu']);

/**
 * The view source the trainer should use: a worker one step ahead when the augmenter is the
 * standard two-view one and the backend can run in a worker; otherwise the main thread.
 * A worker that fails to start is reported through `log` and replaced by the main thread.
 */
export async function openViewSource(augmenter: Augmenter, o: ViewSourceOptions): Promise<ViewSource> {
  const main = new MainThreadViews(augmenter, o.seed);
  const backend = tf.getBackend();
  if (o.prefetch === false || !(augmenter instanceof TwoViewAugmenter) || !WORKER_BACKENDS.has(backend)) return main;
  try {
    return await WorkerViews.start(augmenter.cfg, augmenter.opts, { seed: o.seed, backend, threads: o.threads ?? 1 });
  } catch (e) {
    o.log?.(`note: views are made on the main thread (the view worker did not start: ${(e as Error).message.split('\n')[0]})`);
    return main;
  }
}

/** Views made on demand on the calling thread: exactly the trainer's original path. */
export class MainThreadViews implements ViewSource {
  readonly where = 'main' as const;
  constructor(private readonly augmenter: Augmenter, private readonly seed: number) {}

  views(batch: ImageBatch, step: number): Promise<TwoViews> {
    return Promise.resolve(this.augmenter.views(batch, new Rng(`views:${this.seed}:${step}`)));
  }

  async *steps(batches: AsyncIterable<LoadedBatch>, firstStep: number, endStep: number): AsyncGenerator<StepViews> {
    let step = firstStep;
    if (step >= endStep) return;
    for await (const b of batches) {
      const v = await this.views(b.batch, step);
      yield { batch: b, step: step++, ...v };
      if (step >= endStep) return;
    }
  }

  async close(): Promise<void> {}
}

/** Messages between WorkerViews and view-worker.ts. */
export interface ViewRequest { type: 'views'; id: number; batch: ImageBatch; seed: string }
export type ViewReply =
  | { type: 'ready' }
  | { type: 'failed'; error: string }
  | { type: 'views'; id: number; view1: Float32Array; view2: Float32Array; shape1: number[]; shape2: number[] }
  | { type: 'error'; id: number; error: string };
export interface ViewWorkerData { cfg: ResolvedAugment; opts: AugmenterOptions; backend: string; threads: number }

interface Pending { resolve(v: TwoViews): void; reject(e: Error): void }

/** Views made in a worker thread that holds its own tfjs, backend and TwoViewAugmenter. */
export class WorkerViews implements ViewSource {
  readonly where = 'worker' as const;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private failure?: Error;
  private closed?: Promise<void>;

  private constructor(private readonly worker: Worker, private readonly seed: number) {
    worker.on('message', (m: ViewReply) => this.receive(m));
    worker.on('error', (e) => this.fail(e));
    worker.on('exit', (code) => { if (!this.closed) this.fail(new Error(`view worker exited with code ${code}`)); });
    // Idle, the worker must not keep the process alive (a trainer that died without close());
    // with a request pending it must, or an await on the views could end the process (exit 13).
    worker.unref();
  }

  static async start(cfg: ResolvedAugment, opts: AugmenterOptions, o: { seed: number; backend: string; threads: number }): Promise<WorkerViews> {
    const data: ViewWorkerData = { cfg, opts, backend: o.backend, threads: o.threads };
    const worker = new Worker(new URL('./view-worker.mjs', import.meta.url), { workerData: data });
    // Only our own listeners come off afterwards: the Worker keeps its message port referenced
    // through listeners of its own (removeAllListeners would break message delivery).
    let onMessage!: (m: ViewReply) => void, onError!: (e: Error) => void, onExit!: (code: number) => void;
    try {
      await new Promise<void>((resolve, reject) => {
        onMessage = (m) => (m.type === 'ready' ? resolve() : reject(new Error(m.type === 'failed' ? m.error : `unexpected ${m.type}`)));
        onError = reject;
        onExit = (code) => reject(new Error(`exited with code ${code} while starting`));
        worker.once('message', onMessage).once('error', onError).once('exit', onExit);
      });
    } catch (e) {
      await worker.terminate();
      throw e;
    } finally {
      worker.off('message', onMessage).off('error', onError).off('exit', onExit);
    }
    return new WorkerViews(worker, o.seed);
  }

  views(batch: ImageBatch, step: number): Promise<TwoViews> {
    if (this.closed) return Promise.reject(new Error('view worker: views() after close()'));
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const p = new Promise<TwoViews>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    if (this.pending.size === 1) this.worker.ref();
    // The batch is copied (not transferred): the loader's caller may still read it.
    const req: ViewRequest = { type: 'views', id, batch: { data: batch.data, n: batch.n, height: batch.height, width: batch.width, channels: batch.channels }, seed: `views:${this.seed}:${step}` };
    this.worker.postMessage(req);
    return p;
  }

  async *steps(batches: AsyncIterable<LoadedBatch>, firstStep: number, endStep: number): AsyncGenerator<StepViews> {
    const it = batches[Symbol.asyncIterator]();
    let step = firstStep;
    // Reads the next batch and hands it to the worker at once, so it is augmented during the step.
    const next = async (): Promise<{ batch: LoadedBatch; step: number; views: Promise<TwoViews> } | null> => {
      if (step >= endStep) return null;
      const r = await it.next();
      if (r.done) return null;
      const views = this.views(r.value.batch, step);
      views.catch(() => {}); // surfaced when awaited
      return { batch: r.value, step: step++, views };
    };
    let ahead = await next();
    try {
      while (ahead) {
        const cur = ahead;
        const v = await cur.views;
        ahead = null;
        try {
          // Submitted before the yield: once the consumer's step starts it keeps this thread
          // busy, so a request sent after the yield would wait for the step to end.
          ahead = await next();
        } catch (e) {
          tf.dispose([v.view1, v.view2]);
          throw e;
        }
        yield { batch: cur.batch, step: cur.step, ...v };
      }
    } finally {
      if (ahead) await ahead.views.then((v) => tf.dispose([v.view1, v.view2]), () => {});
      await it.return?.();
    }
  }

  close(): Promise<void> {
    this.closed ??= this.worker.terminate().then(() => {
      this.fail(new Error('view worker: closed while views were pending'));
    });
    return this.closed;
  }

  private receive(m: ViewReply): void {
    if (m.type !== 'views' && m.type !== 'error') return;
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (this.pending.size === 0) this.worker.unref();
    if (m.type === 'error') { p.reject(new Error(`view worker: ${m.error}`)); return; }
    p.resolve({
      view1: tf.tensor4d(m.view1, m.shape1 as [number, number, number, number]),
      view2: tf.tensor4d(m.view2, m.shape2 as [number, number, number, number]),
    });
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
  }
}
