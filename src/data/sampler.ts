// The m-per-class sampler (data.sampler: m_per_class): every batch holds
// P = batch_size / m classes x m images each, because supervised metric-learning
// losses (SupCon, triplet, contrastive, multi-similarity) need several images of a
// class in the same batch. Like pytorch-metric-learning's MPerClassSampler, but an
// epoch has an exact length and meaning, and its batches are a pure function of
// (seed, epoch) so a run resumes at any step.
//
// One epoch:
//  1. Chunks. Each class's images are shuffled and cut into chunks of m. A class whose
//     size n is not a multiple of m tops up its last chunk with the first
//     (m - n mod m) images of its shuffled order (drawn again from the same class, so
//     a chunk never repeats an image): those images are seen twice, every other image
//     of the class once. A class with fewer than m images is bad input (UserError
//     naming the class and its size): drop it (data.class_split / exclude_classes) or
//     lower data.m_per_class.
//  2. Batches. Chunks are dealt into batches of P chunks of P distinct classes: each
//     batch takes the P classes with the most chunks left, ties broken at random
//     (fresh for every batch). This packs the most full batches possible, B = the
//     largest B with sum_c min(chunks_c, B) >= P * B (a class is in a batch at most
//     once), so with classes of similar size every chunk lands in a full batch except
//     for fewer than P at the end.
//  3. The rest. The chunks left after the full batches belong to fewer than P classes.
//     With drop_last false, one last, short batch takes one chunk of each of those
//     classes (q classes x m images, q < P); with drop_last true it is left out. Any
//     further chunks (only when one class holds more than about 1/P of all chunks) are
//     not served that epoch: a class's chunks are taken in its shuffled order, so which
//     images wait for another epoch changes from epoch to epoch.
//  4. Order. The full batches are shuffled; the images inside a batch are shuffled too
//     (no position in a batch says anything about its class, e.g. for batch-norm groups).
// The counts (batches per epoch, the short batch's classes, images seen twice, chunks
// skipped) depend on the class sizes only, so they are known before any epoch runs.
import { UserError } from '../util/errors.ts';
import { Rng } from '../util/rng.ts';

export interface MPerClassOptions {
  /** Images per class in a batch (data.m_per_class). */
  m: number;
  /** train.batch_size: a multiple of m, with at least 2 classes per batch. */
  batchSize: number;
  /** train.drop_last: leave out the short last batch. */
  dropLast: boolean;
  seed: number;
  /** For messages: the dataset's name and class names by label. */
  datasetName?: string;
  classNames?: string[];
}

/** What an epoch holds; the same for every epoch and seed. */
export interface SamplerPlan {
  /** Classes present (with at least one image). */
  classes: number;
  /** P: classes per full batch. */
  classesPerBatch: number;
  /** Full batches (P x m images). */
  fullBatches: number;
  /** Classes in the short last batch (0 = none); it is served only without drop_last. */
  partialClasses: number;
  /** Batches an epoch yields. */
  batches: number;
  /** Chunks of m made from all classes. */
  chunks: number;
  /** Images repeated to fill the last chunk of classes whose size is not a multiple of m (seen twice when that chunk is served). */
  toppedUp: number;
  /** Chunks not served this epoch (drop_last's short batch included). */
  skippedChunks: number;
}

export class MPerClassSampler {
  readonly plan: SamplerPlan;
  private readonly m: number;
  private readonly p: number;
  /** Dataset indices per class, classes in ascending label order. */
  private readonly members: Int32Array[];

  constructor(labels: Int32Array, private readonly opts: MPerClassOptions) {
    const { m, batchSize } = opts;
    if (!Number.isInteger(m) || m < 2) throw new UserError(`data.m_per_class: ${m}: expected an integer >= 2`);
    if (batchSize % m !== 0 || batchSize / m < 2) {
      const down = Math.max(2 * m, Math.floor(batchSize / m) * m);
      const up = Math.max(2 * m, Math.ceil(batchSize / m) * m);
      const near = down === up ? `${up}` : `${down} or ${up}`;
      throw new UserError(`train.batch_size ${batchSize} must be a multiple of data.m_per_class ${m} holding at least 2 classes (a batch is batch_size / m_per_class classes x m_per_class images); use train.batch_size ${near}`);
    }
    this.m = m;
    this.p = batchSize / m;
    this.members = groupByClass(labels);
    const name = opts.datasetName ?? 'the dataset';
    if (this.members.length < this.p) {
      const most = this.members.length * m;
      throw new UserError(`data.m_per_class: train.batch_size ${batchSize} / data.m_per_class ${m} = ${this.p} classes per batch, but ${name} has ${this.members.length} classes; use train.batch_size <= ${most} (a multiple of ${m}) or a larger data.m_per_class`);
    }
    let smallest = this.members[0];
    for (const c of this.members) if (c.length < smallest.length) smallest = c;
    if (smallest.length < m) {
      const label = labels[smallest[0]];
      throw new UserError(`data.m_per_class: ${m} is larger than class '${this.className(label)}' of ${name} (${smallest.length} images); use data.m_per_class <= ${smallest.length}, or leave that class out (data.class_split, data.exclude_classes)`);
    }
    this.plan = this.makePlan(labels.length);
  }

  batchesPerEpoch(): number { return this.plan.batches; }

  /** The batches of epoch `epoch` (dataset indices), in the order they are served. */
  batches(epoch: number): Int32Array[] {
    const rng = new Rng(`m_per_class:${this.opts.seed}:${epoch}`);
    const m = this.m;
    const chunked = this.members.map((idx) => chunk(rng.shuffle(Int32Array.from(idx)) as Int32Array, m));
    const { rounds, left } = deal(chunked.map((c) => c.length), this.p, () => rng.next());
    const taken = new Int32Array(chunked.length);
    const build = (classes: number[]): Int32Array => {
      const out = new Int32Array(classes.length * m);
      classes.forEach((c, k) => out.set(chunked[c][taken[c]++], k * m));
      return rng.shuffle(out) as Int32Array;
    };
    const full = rng.shuffle(rounds.map(build)) as Int32Array[];
    if (!this.opts.dropLast) {
      const rest = left.flatMap((n, c) => (n > 0 ? [c] : []));
      if (rest.length > 0) full.push(build(rest));
    }
    return full;
  }

  /** The epoch's batches one after another (the short one, if any, last). */
  order(epoch: number): Int32Array {
    const bs = this.batches(epoch);
    const out = new Int32Array(bs.reduce((s, b) => s + b.length, 0));
    let at = 0;
    for (const b of bs) { out.set(b, at); at += b.length; }
    return out;
  }

  /** One line for the run log. */
  describe(): string {
    const p = this.plan;
    const short = p.partialClasses > 0 && !this.opts.dropLast ? ` + 1 of ${p.partialClasses} classes` : '';
    return `m_per_class sampler: ${p.classesPerBatch} classes x ${this.m} images per batch, ${p.fullBatches} batches${short} per epoch from ${p.classes} classes; `
      + `${p.toppedUp} images repeated to fill short chunks, ${p.skippedChunks} chunks of ${this.m} not served per epoch`;
  }

  private className(label: number): string {
    return this.opts.classNames?.[label] ?? String(label);
  }

  private makePlan(images: number): SamplerPlan {
    const counts = this.members.map((c) => Math.ceil(c.length / this.m));
    // Ties do not change how many chunks are left, only whose: no randomness needed.
    const { rounds, left } = deal(counts, this.p, () => 0);
    const chunks = counts.reduce((s, n) => s + n, 0);
    const partialClasses = left.filter((n) => n > 0).length;
    const served = rounds.length * this.p + (this.opts.dropLast ? 0 : partialClasses);
    return {
      classes: counts.length, classesPerBatch: this.p, fullBatches: rounds.length, partialClasses,
      batches: rounds.length + (partialClasses > 0 && !this.opts.dropLast ? 1 : 0),
      chunks, toppedUp: chunks * this.m - images, skippedChunks: chunks - served,
    };
  }
}

/** Dataset indices per label value present, in ascending label order. */
function groupByClass(labels: Int32Array): Int32Array[] {
  const byLabel = new Map<number, number[]>();
  labels.forEach((l, i) => {
    let a = byLabel.get(l);
    if (!a) byLabel.set(l, (a = []));
    a.push(i);
  });
  return [...byLabel.keys()].sort((a, b) => a - b).map((l) => Int32Array.from(byLabel.get(l)!));
}

/** Cuts a shuffled class into chunks of m; a short last chunk is filled from the front. */
function chunk(idx: Int32Array, m: number): Int32Array[] {
  const out: Int32Array[] = [];
  for (let s = 0; s < idx.length; s += m) {
    const c = new Int32Array(m);
    const have = Math.min(m, idx.length - s);
    c.set(idx.subarray(s, s + have));
    c.set(idx.subarray(0, m - have), have);
    out.push(c);
  }
  return out;
}

/**
 * Deals chunk counts into rounds of p distinct classes, largest remaining first
 * (the greedy that reaches the most full rounds). `tie` gives each class a fresh
 * random key per round. Returns the classes of each round and the chunks left per class.
 */
export function deal(counts: number[], p: number, tie: () => number): { rounds: number[][]; left: number[] } {
  const left = counts.slice();
  const rounds: number[][] = [];
  const key = new Float64Array(counts.length);
  let active = counts.flatMap((n, c) => (n > 0 ? [c] : []));
  while (active.length >= p) {
    for (const c of active) key[c] = tie();
    active.sort((a, b) => left[b] - left[a] || key[a] - key[b] || a - b);
    const round = active.slice(0, p);
    for (const c of round) left[c]--;
    rounds.push(round);
    if (round.some((c) => left[c] === 0)) active = active.filter((c) => left[c] > 0);
  }
  return { rounds, left };
}

/** The recipe's choice as Loader options: undefined for the plain shuffled order. */
export function samplerOption(data: { sampler: 'random' | 'm_per_class'; m_per_class: number }): { kind: 'm_per_class'; m: number } | undefined {
  return data.sampler === 'm_per_class' ? { kind: 'm_per_class', m: data.m_per_class } : undefined;
}
