import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { extractFeatures, scaleToUnit } from '../src/eval/features.ts';
import { MemoryDataset } from '../src/data/memory.ts';
import type { Module, NamedVariable } from '../src/models/module.ts';

/** A linear "backbone" with a training flag that must stay false. */
function linearModule(w: number[][]): Module & { sawTraining: boolean } {
  const v = tf.variable(tf.tensor2d(w), false, 'lin/kernel');
  const m = {
    sawTraining: false,
    apply(x: tf.Tensor, training: boolean) {
      if (training) m.sawTraining = true;
      return x.reshape([x.shape[0], -1]).matMul(v);
    },
    params: (): NamedVariable[] => [{ name: 'lin/kernel', variable: v, kind: 'weight' }],
    buffers: (): NamedVariable[] => [],
  };
  return m;
}

describe('extractFeatures', () => {
  beforeAll(async () => { await tf.setBackend('cpu'); });

  it('runs the backbone in eval mode over every item in order, batch by batch, without leaks', async () => {
    // 5 images of 1x2x1 pixels; kernel [[1, 0, 1], [0, 2, 1]] on pixels/255.
    const pixels = new Uint8Array([255, 0, 0, 255, 51, 102, 0, 0, 255, 255]);
    const ds = new MemoryDataset('t', pixels, 1, 2, 1, new Int32Array([0, 1, 2, 0, 1]));
    const m = linearModule([[1, 0, 1], [0, 2, 1]]);
    const before = tf.memory().numTensors;
    const progress: number[] = [];
    const f = await extractFeatures(m, ds, scaleToUnit, { batchSize: 2, normalize: false, onProgress: (d) => progress.push(d) });
    expect(tf.memory().numTensors).toBe(before);
    expect(m.sawTraining).toBe(false);
    expect(f.dim).toBe(3);
    expect(f.n).toBe(5);
    expect(progress).toEqual([2, 4, 5]);
    const want = [1, 0, 1, 0, 2, 1, 0.2, 0.8, 0.6, 0, 0, 0, 1, 2, 2];
    Array.from(f.features).forEach((x, i) => expect(x).toBeCloseTo(want[i], 6));
    expect(Array.from(f.labels!)).toEqual([0, 1, 2, 0, 1]);

    const g = await extractFeatures(m, ds, scaleToUnit, { batchSize: 3, normalize: true });
    const s = Math.SQRT1_2;
    const wantN = [s, 0, s, 0, 2 / Math.sqrt(5), 1 / Math.sqrt(5)];
    wantN.forEach((x, i) => expect(g.features[i]).toBeCloseTo(x, 6));
    expect(Array.from(g.features.slice(9, 12))).toEqual([0, 0, 0]);
  });
});
