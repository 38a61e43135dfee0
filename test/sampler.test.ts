// The m-per-class sampler: P distinct classes x m images in every batch, the
// documented epoch coverage (each image once, top-ups twice, small classes an
// error, a dominant class's surplus skipped), counts known up front, seeded and
// resumable through the Loader, and the plain Loader order untouched.
import { describe, expect, it } from 'vitest';
import { Loader, type LoaderOptions } from '../src/data/loader.ts';
import { MemoryDataset } from '../src/data/memory.ts';
import { deal, MPerClassSampler, samplerOption } from '../src/data/sampler.ts';
import { UserError } from '../src/util/errors.ts';
import { Rng } from '../src/util/rng.ts';

/** Labels for classes of the given sizes, interleaved by a seeded shuffle. */
function labelsFor(sizes: number[], seed = 3): Int32Array {
  const l = Int32Array.from(sizes.flatMap((n, c) => Array(n).fill(c)));
  return new Rng(`labels:${seed}`).shuffle(l) as Int32Array;
}

/** 1x1x1 images whose pixel is their index (mod 256). */
function dataset(labels?: Int32Array, n = labels?.length ?? 0, classNames?: string[]): MemoryDataset {
  return new MemoryDataset('tinyset', Uint8Array.from({ length: n }, (_, i) => i % 256), 1, 1, 1, labels, classNames);
}

async function collect(loader: Loader, epoch: number, start = 0) {
  const out: { indices: number[]; labels: number[]; pixels: number[]; index: number }[] = [];
  for await (const b of loader.epoch(epoch, start)) {
    out.push({ indices: Array.from(b.indices), labels: Array.from(b.labels!), pixels: Array.from(b.batch.data), index: b.index });
  }
  return out;
}

/** Classes in a batch with how many images each. */
function perClass(labels: Int32Array, batch: Int32Array): Map<number, number> {
  const m = new Map<number, number>();
  for (const i of batch) m.set(labels[i], (m.get(labels[i]) ?? 0) + 1);
  return m;
}

/** The upper bound on full batches: each class is in a batch at most once. */
function maxFullBatches(counts: number[], p: number): number {
  let b = 0;
  while (counts.reduce((s, k) => s + Math.min(k, b + 1), 0) >= p * (b + 1)) b++;
  return b;
}

describe('MPerClassSampler', () => {
  // 59 images, m = 4, P = 3: chunks per class 4, 2, 3, 3, 2, 3 = 17 = 5 full batches + 2 chunks.
  const sizes = [13, 8, 9, 12, 7, 10];
  const labels = labelsFor(sizes);

  it('plans the epoch from the class sizes (hand-worked)', () => {
    const s = new MPerClassSampler(labels, { m: 4, batchSize: 12, dropLast: false, seed: 1 });
    expect(s.plan).toEqual({
      classes: 6, classesPerBatch: 3, fullBatches: 5, partialClasses: 2, batches: 6, chunks: 17,
      toppedUp: 3 + 0 + 3 + 0 + 1 + 2, skippedChunks: 0,
    });
    const d = new MPerClassSampler(labels, { m: 4, batchSize: 12, dropLast: true, seed: 1 });
    expect([d.plan.batches, d.plan.skippedChunks]).toEqual([5, 2]);
    expect(d.describe()).toMatch(/3 classes x 4 images per batch, 5 batches per epoch from 6 classes/);
  });

  it('every batch: P distinct classes x m distinct images; every image once, top-ups twice', () => {
    const s = new MPerClassSampler(labels, { m: 4, batchSize: 12, dropLast: false, seed: 1 });
    for (let epoch = 0; epoch < 8; epoch++) {
      const batches = s.batches(epoch);
      expect(batches.length).toBe(s.batchesPerEpoch());
      batches.forEach((b, k) => {
        const pc = perClass(labels, b);
        expect(pc.size).toBe(k < 5 ? 3 : 2); // the short last batch: the 2 chunks left
        for (const n of pc.values()) expect(n).toBe(4);
        expect(new Set(b).size).toBe(b.length);
      });
      const seen = new Int32Array(labels.length);
      for (const b of batches) for (const i of b) seen[i]++;
      expect(Math.min(...seen)).toBe(1);
      expect(Math.max(...seen)).toBe(2);
      // Per class: exactly (m - n mod m) mod m images seen twice.
      sizes.forEach((n, c) => {
        const twice = Array.from(seen).filter((v, i) => labels[i] === c && v === 2).length;
        expect(twice).toBe((4 - (n % 4)) % 4);
      });
      expect(seen.reduce((a, v) => a + v, 0)).toBe(labels.length + s.plan.toppedUp);
    }
  });

  it('drop_last leaves out the short batch: only full batches, 2 chunks unserved', () => {
    const s = new MPerClassSampler(labels, { m: 4, batchSize: 12, dropLast: true, seed: 1 });
    for (let epoch = 0; epoch < 4; epoch++) {
      const batches = s.batches(epoch);
      expect(batches.length).toBe(5);
      for (const b of batches) {
        expect(b.length).toBe(12);
        expect(perClass(labels, b).size).toBe(3);
      }
    }
  });

  it('a class larger than 1/P of the chunks: the surplus waits, chosen afresh each epoch', () => {
    // Chunks 10, 1, 1, 1 with P = 2: 3 full batches (class 0 with each small class), 7 chunks of class 0 left.
    const big = labelsFor([40, 4, 4, 4]);
    const s = new MPerClassSampler(big, { m: 4, batchSize: 8, dropLast: false, seed: 5 });
    expect(s.plan).toMatchObject({ fullBatches: 3, partialClasses: 1, batches: 4, skippedChunks: 6, toppedUp: 0 });
    const served0: Set<number>[] = [];
    for (let epoch = 0; epoch < 3; epoch++) {
      const batches = s.batches(epoch);
      expect(batches.map((b) => b.length)).toEqual([8, 8, 8, 4]);
      const all = batches.flatMap((b) => Array.from(b));
      expect(new Set(all).size).toBe(all.length); // no top-ups needed: nothing twice
      for (let c = 1; c < 4; c++) expect(all.filter((i) => big[i] === c).length).toBe(4); // small classes fully seen
      served0.push(new Set(all.filter((i) => big[i] === 0)));
      expect(served0[epoch].size).toBe(16);
    }
    expect([...served0[1]].sort()).not.toEqual([...served0[0]].sort());
  });

  it('the greedy deal reaches the most full batches, and what is left does not depend on ties', () => {
    const rng = new Rng('deal');
    for (let t = 0; t < 200; t++) {
      const counts = Array.from({ length: 2 + rng.int(9) }, () => rng.int(rng.bernoulli(0.2) ? 30 : 8));
      const p = 2 + rng.int(4);
      const a = deal(counts, p, () => rng.next());
      const b = deal(counts, p, () => 0);
      expect(a.rounds.length).toBe(maxFullBatches(counts, p));
      expect(b.rounds.length).toBe(a.rounds.length);
      expect([...a.left].sort((x, y) => x - y)).toEqual([...b.left].sort((x, y) => x - y));
      for (const r of a.rounds) expect(new Set(r).size).toBe(p);
      expect(a.left.reduce((s, n) => s + n, 0) + a.rounds.length * p).toBe(counts.reduce((s, n) => s + n, 0));
    }
  });

  it('same seed and epoch: same batches; another seed or epoch: different', () => {
    const mk = (seed: number) => new MPerClassSampler(labels, { m: 4, batchSize: 12, dropLast: false, seed });
    const flat = (s: MPerClassSampler, e: number) => Array.from(s.order(e));
    expect(flat(mk(1), 2)).toEqual(flat(mk(1), 2));
    expect(flat(mk(2), 2)).not.toEqual(flat(mk(1), 2));
    expect(flat(mk(1), 3)).not.toEqual(flat(mk(1), 2));
  });

  it('bad input is a UserError naming the keys', () => {
    const make = (l: Int32Array, m: number, batchSize: number, classNames?: string[]) => () => new MPerClassSampler(l, { m, batchSize, dropLast: false, seed: 0, datasetName: 'tinyset', classNames });
    expect(make(labels, 4, 30)).toThrow(UserError);
    expect(make(labels, 4, 30)).toThrow(/train\.batch_size 30 .*data\.m_per_class 4.*use train\.batch_size 28 or 32/);
    expect(make(labels, 4, 4)).toThrow(/at least 2 classes.*use train\.batch_size 8$/);
    expect(make(labelsFor([10, 3, 10]), 4, 8)).toThrow(/data\.m_per_class: 4 is larger than class '1' of tinyset \(3 images\); use data\.m_per_class <= 3/);
    expect(make(labelsFor([10, 3, 10]), 4, 8, ['ant', 'bee', 'cat'])).toThrow(/class 'bee'/);
    expect(make(labelsFor([8, 8]), 4, 12)).toThrow(/data\.m_per_class: train\.batch_size 12 \/ data\.m_per_class 4 = 3 classes per batch, but tinyset has 2 classes/);
    expect(() => new Loader(dataset(undefined, 20), { batchSize: 8, dropLast: false, seed: 0, shuffle: true, sampler: { kind: 'm_per_class', m: 4 } }))
      .toThrow(/^data\.sampler: m_per_class needs labels; tinyset has none$/);
  });
});

describe('Loader with sampler: m_per_class', () => {
  const labels = labelsFor([13, 8, 9, 12, 7, 10]);
  const opts = (over: Partial<LoaderOptions> = {}): LoaderOptions => ({ batchSize: 12, dropLast: false, seed: 4, shuffle: true, prefetch: 2, sampler: { kind: 'm_per_class', m: 4 }, ...over });

  it('serves the sampler\'s batches with matching pixels and labels; batchesPerEpoch is what epoch() yields', async () => {
    for (const dropLast of [false, true]) {
      const loader = new Loader(dataset(labels), opts({ dropLast }));
      const batches = await collect(loader, 3);
      expect(batches.length).toBe(loader.batchesPerEpoch());
      expect(batches.length).toBe(dropLast ? 5 : 6);
      expect(batches.map((b) => b.index)).toEqual([...batches.keys()]);
      expect(batches.map((b) => b.indices)).toEqual(loader.sampler!.batches(3).map((b) => Array.from(b)));
      for (const b of batches) {
        expect(b.pixels).toEqual(b.indices.map((i) => i % 256));
        expect(b.labels).toEqual(b.indices.map((i) => labels[i]));
      }
    }
  });

  it('resumes mid-epoch: epoch(e, b) is the tail of epoch(e, 0)', async () => {
    const mk = () => new Loader(dataset(labels), opts({ prefetch: 3 }));
    const all = await collect(mk(), 7);
    for (const start of [1, 4, 5]) expect(await collect(mk(), 7, start)).toEqual(all.slice(start));
    expect(await collect(mk(), 7, 6)).toEqual([]);
  });

  it('samplerOption maps the recipe keys; without a sampler the order is the plain seeded shuffle, bit for bit', async () => {
    expect(samplerOption({ sampler: 'random', m_per_class: 4 })).toBeUndefined();
    expect(samplerOption({ sampler: 'm_per_class', m_per_class: 6 })).toEqual({ kind: 'm_per_class', m: 6 });
    const loader = new Loader(dataset(labels), opts({ sampler: undefined, batchSize: 7 }));
    const want = new Rng('loader:4:2').shuffle(Int32Array.from({ length: labels.length }, (_, i) => i));
    expect(Array.from(loader.order(2))).toEqual(Array.from(want));
    expect(loader.batchesPerEpoch()).toBe(9);
    expect((await collect(loader, 2)).flatMap((b) => b.indices)).toEqual(Array.from(want));
  });
});
