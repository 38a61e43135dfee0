// Batches for training: a seeded permutation per epoch (a pure function of
// (seed, epoch), so resuming at (epoch, batch) replays exactly), fixed-size
// batches, and reads started `prefetch` batches ahead so that disk reads
// (libuv's thread pool) overlap the training step running on the main thread.
// With `sampler: m_per_class` the batches come from MPerClassSampler (P classes x m
// images each; see sampler.ts), equally a pure function of (seed, epoch).
import { UserError } from '../util/errors.ts';
import { Rng } from '../util/rng.ts';
import { MPerClassSampler } from './sampler.ts';
import type { Dataset, ImageBatch } from './types.ts';

export interface LoaderOptions {
  batchSize: number;
  /** Leave out the last, short batch of each epoch. */
  dropLast: boolean;
  seed: number;
  shuffle: boolean;
  /** Batches read ahead of the one being consumed (default 2; 0 = read on demand). */
  prefetch?: number;
  /** Class-balanced batches (data.sampler: m_per_class); absent = the plain order. The sampler always shuffles (`shuffle` is not consulted). */
  sampler?: { kind: 'm_per_class'; m: number };
}

export interface LoadedBatch {
  batch: ImageBatch;
  /** Dataset indices of the batch's items, in batch order. */
  indices: Int32Array;
  labels?: Int32Array;
  /** Position of the batch within its epoch. */
  index: number;
}

export class Loader {
  private readonly prefetch: number;
  /** Set for data.sampler: m_per_class. */
  readonly sampler?: MPerClassSampler;

  constructor(private readonly ds: Dataset, private readonly opts: LoaderOptions) {
    if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) throw new UserError(`batch size ${opts.batchSize}: expected a positive integer`);
    if (opts.sampler) {
      if (!ds.labels) throw new UserError(`data.sampler: m_per_class needs labels; ${ds.name} has none`);
      this.sampler = new MPerClassSampler(ds.labels, {
        m: opts.sampler.m, batchSize: opts.batchSize, dropLast: opts.dropLast, seed: opts.seed, datasetName: ds.name, classNames: ds.classNames,
      });
    } else if (opts.dropLast && ds.n < opts.batchSize) {
      throw new UserError(`batch size ${opts.batchSize} is larger than ${ds.name} (${ds.n} images) with drop_last; use a smaller batch`);
    }
    this.prefetch = Math.max(0, Math.floor(opts.prefetch ?? 2));
  }

  batchesPerEpoch(): number {
    if (this.sampler) return this.sampler.batchesPerEpoch();
    const { n } = this.ds;
    return this.opts.dropLast ? Math.floor(n / this.opts.batchSize) : Math.ceil(n / this.opts.batchSize);
  }

  /** The dataset indices of epoch `epoch`, in the order they are served. */
  order(epoch: number): Int32Array {
    if (this.sampler) return this.sampler.order(epoch);
    const idx = Int32Array.from({ length: this.ds.n }, (_, i) => i);
    if (this.opts.shuffle) new Rng(`loader:${this.opts.seed}:${epoch}`).shuffle(idx);
    return idx;
  }

  async *epoch(epoch: number, startBatch = 0): AsyncGenerator<LoadedBatch> {
    const order = this.order(epoch);
    const total = this.batchesPerEpoch();
    const bs = this.opts.batchSize;
    const load = (b: number): Promise<LoadedBatch> => {
      const indices = order.slice(b * bs, Math.min((b + 1) * bs, order.length));
      const labels = this.ds.labels ? Int32Array.from(indices, (j) => this.ds.labels![j]) : undefined;
      return Promise.resolve().then(() => this.ds.read(indices)).then((batch) => ({ batch, indices, labels, index: b }));
    };
    const ahead: Promise<LoadedBatch>[] = [];
    let next = startBatch;
    const fill = (want: number) => {
      while (next < total && ahead.length < want) {
        const p = load(next++);
        p.catch(() => {}); // surfaced when awaited; avoids an unhandled rejection if the consumer stops early
        ahead.push(p);
      }
    };
    for (;;) {
      fill(Math.max(1, this.prefetch));
      if (ahead.length === 0) return;
      const b = await ahead.shift()!;
      fill(this.prefetch); // these reads run while the consumer trains on b
      yield b;
    }
  }
}
