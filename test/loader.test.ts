// The loader: every item once per epoch, order a pure function of (seed, epoch),
// exact resume from a batch index, drop_last, and reads started ahead (prefetch).
import { describe, expect, it } from 'vitest';
import { Loader } from '../src/data/loader.ts';
import { MemoryDataset } from '../src/data/memory.ts';
import type { Dataset, ImageBatch } from '../src/data/types.ts';
import { UserError } from '../src/util/errors.ts';

/** n 1x1x1 images whose pixel is their index (mod 256), labelled index % 3. */
function tiny(n: number): MemoryDataset {
  return new MemoryDataset('tiny', Uint8Array.from({ length: n }, (_, i) => i % 256), 1, 1, 1, Int32Array.from({ length: n }, (_, i) => i % 3));
}

async function collect(loader: Loader, epoch: number, start = 0) {
  const out: { indices: number[]; pixels: number[]; labels: number[]; index: number }[] = [];
  for await (const b of loader.epoch(epoch, start)) {
    out.push({ indices: Array.from(b.indices), pixels: Array.from(b.batch.data), labels: Array.from(b.labels!), index: b.index });
  }
  return out;
}

describe('Loader', () => {
  it('covers every item exactly once per epoch, with matching pixels and labels', async () => {
    const loader = new Loader(tiny(10), { batchSize: 3, dropLast: false, seed: 7, shuffle: true });
    expect(loader.batchesPerEpoch()).toBe(4);
    const batches = await collect(loader, 0);
    expect(batches.map((b) => b.indices.length)).toEqual([3, 3, 3, 1]);
    expect(batches.map((b) => b.index)).toEqual([0, 1, 2, 3]);
    const all = batches.flatMap((b) => b.indices);
    expect([...all].sort((a, b) => a - b)).toEqual([...Array(10).keys()]);
    for (const b of batches) {
      expect(b.pixels).toEqual(b.indices);
      expect(b.labels).toEqual(b.indices.map((i) => i % 3));
    }
  });

  it('drop_last leaves out the short batch; too large a batch is a user error', async () => {
    const loader = new Loader(tiny(10), { batchSize: 3, dropLast: true, seed: 7, shuffle: true });
    expect(loader.batchesPerEpoch()).toBe(3);
    const batches = await collect(loader, 1);
    expect(batches.map((b) => b.indices.length)).toEqual([3, 3, 3]);
    expect(new Set(batches.flatMap((b) => b.indices)).size).toBe(9);
    expect(() => new Loader(tiny(2), { batchSize: 3, dropLast: true, seed: 0, shuffle: true })).toThrow(UserError);
  });

  it('order is a pure function of (seed, epoch); resume from a batch replays the tail exactly', async () => {
    const mk = (seed: number) => new Loader(tiny(50), { batchSize: 8, dropLast: false, seed, shuffle: true, prefetch: 3 });
    const a = await collect(mk(1), 4);
    const b = await collect(mk(1), 4);
    expect(b).toEqual(a);
    const other = (await collect(mk(1), 5)).flatMap((x) => x.indices);
    const otherSeed = (await collect(mk(2), 4)).flatMap((x) => x.indices);
    expect(other).not.toEqual(a.flatMap((x) => x.indices));
    expect(otherSeed).not.toEqual(a.flatMap((x) => x.indices));
    const tail = await collect(mk(1), 4, 3);
    expect(tail).toEqual(a.slice(3));
    expect(await collect(mk(1), 4, 7)).toEqual([]);
  });

  it('without shuffle the order is the dataset order', async () => {
    const loader = new Loader(tiny(5), { batchSize: 2, dropLast: false, seed: 1, shuffle: false });
    expect((await collect(loader, 3)).flatMap((b) => b.indices)).toEqual([0, 1, 2, 3, 4]);
  });

  it('shuffles uniformly: each item leads an epoch about equally often', () => {
    const n = 5;
    const epochs = 2000;
    const loader = new Loader(tiny(n), { batchSize: 1, dropLast: false, seed: 11, shuffle: true });
    const first = new Array(n).fill(0);
    for (let e = 0; e < epochs; e++) first[loader.order(e)[0]]++;
    // Binomial(2000, 0.2): sd 17.9; 6 sd is far outside chance for a correct shuffle.
    for (const c of first) expect(Math.abs(c - epochs / n)).toBeLessThan(6 * Math.sqrt(epochs * 0.2 * 0.8));
  });

  it('prefetch: the next batches are being read while the consumer holds one', async () => {
    for (const prefetch of [0, 2]) {
      const started: number[] = [];
      const base = tiny(20);
      // Reads resolve only when released, so "started" reflects the loader's scheduling, not timing.
      const release: (() => void)[] = [];
      const slow: Dataset = {
        name: 'slow', n: base.n, height: 1, width: 1, channels: 1, labels: base.labels,
        read(idx: ArrayLike<number>): Promise<ImageBatch> {
          started.push(idx[0]);
          return new Promise((res) => release.push(() => res(base.read(idx))));
        },
      };
      const loader = new Loader(slow, { batchSize: 4, dropLast: false, seed: 0, shuffle: false, prefetch });
      const it = loader.epoch(0)[Symbol.asyncIterator]();
      const firstP = it.next();
      await new Promise((r) => setImmediate(r));
      expect(started.length).toBe(Math.max(1, prefetch));
      release.shift()!();
      const first = await firstP;
      expect(Array.from(first.value!.indices)).toEqual([0, 1, 2, 3]);
      await new Promise((r) => setImmediate(r));
      // While the consumer holds batch 0, `prefetch` further reads are in flight.
      expect(started.length).toBe(1 + prefetch);
      while (release.length) release.shift()!();
      await it.return?.(undefined);
    }
  });
});
