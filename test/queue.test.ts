import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { KeyQueue } from '../src/methods/queue.ts';
import { Rng } from '../src/util/rng.ts';

beforeAll(async () => { await tf.setBackend('cpu'); });

/** n rows of width 2 whose values name them: row i = [base + i, -(base + i)]. */
const rows = (base: number, n: number): tf.Tensor2D =>
  tf.tensor2d(Array.from({ length: n }, (_, i) => [base + i, -(base + i)]));
const firstColumn = (q: KeyQueue): number[] => {
  const d = q.negatives().dataSync();
  return Array.from({ length: q.size }, (_, i) => d[2 * i]);
};

describe('KeyQueue', () => {
  it('starts as K random unit vectors with the pointer at 0', () => {
    const q = new KeyQueue('q', 64, 8, new Rng(0));
    const norms = tf.norm(q.negatives(), 'euclidean', 1).dataSync();
    for (const n of norms) expect(n).toBeCloseTo(1, 5);
    expect(q.position()).toBe(0);
    expect(q.state().map((v) => v.name)).toEqual(['q/keys', 'q/pointer']);
    expect(q.pointer.variable.dtype).toBe('int32');
    q.dispose();
  });

  it('fills in FIFO order, moves the pointer and overwrites the oldest keys after wrapping', () => {
    const q = new KeyQueue('q', 6, 2, new Rng(0));
    q.enqueue(rows(10, 2));
    expect(q.position()).toBe(2);
    q.enqueue(rows(20, 2));
    q.enqueue(rows(30, 2));
    expect(q.position()).toBe(0);
    expect(firstColumn(q)).toEqual([10, 11, 20, 21, 30, 31]);
    q.enqueue(rows(40, 2)); // the oldest (10, 11) go
    expect(firstColumn(q)).toEqual([40, 41, 20, 21, 30, 31]);
    expect(q.position()).toBe(2);
    // The second column is stored along with the first.
    expect(Array.from(q.negatives().slice([0, 0], [1, 2]).dataSync())).toEqual([40, -40]);
    q.dispose();
  });

  it('splits a batch that crosses the end across the end and the start', () => {
    const q = new KeyQueue('q', 6, 2, new Rng(0));
    q.enqueue(rows(10, 4)); // rows 0..3, pointer 4
    q.enqueue(rows(20, 4)); // rows 4, 5 then 0, 1
    expect(firstColumn(q)).toEqual([22, 23, 12, 13, 20, 21]);
    expect(q.position()).toBe(2);
    q.enqueue(rows(30, 6)); // a whole queue at once from pointer 2
    expect(firstColumn(q)).toEqual([34, 35, 30, 31, 32, 33]);
    expect(q.position()).toBe(2);
    q.dispose();
  });

  it('leaks no tensors across enqueues and rejects bad shapes', () => {
    const q = new KeyQueue('q', 8, 2, new Rng(0));
    const keys = rows(0, 4);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) q.enqueue(keys);
    expect(tf.memory().numTensors).toBe(before);
    expect(() => q.enqueue(rows(0, 9))).toThrow(/do not fit/);
    expect(() => q.enqueue(tf.zeros([2, 3]) as tf.Tensor2D)).toThrow(/width 3/);
    q.dispose();
  });
});
