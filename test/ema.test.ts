import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { emaUpdate, freeze, pairByName } from '../src/methods/ema.ts';
import { Linear } from '../src/models/layers.ts';
import type { NamedVariable } from '../src/models/module.ts';
import { Rng } from '../src/util/rng.ts';

beforeAll(async () => { await tf.setBackend('cpu'); });

const nv = (name: string, values: number[]): NamedVariable => ({ name, kind: 'weight', variable: tf.variable(tf.tensor1d(values)) });

describe('emaUpdate', () => {
  it('moves the target toward the source by 1 - m (one step by hand)', () => {
    const target = [nv('key/a', [1, 2]), nv('key/b', [-4])];
    const source = [nv('a', [3, -1]), nv('b', [6])];
    emaUpdate(target, source, 0.9);
    // 0.9 * 1 + 0.1 * 3 = 1.2; 0.9 * 2 + 0.1 * -1 = 1.7; 0.9 * -4 + 0.1 * 6 = -3.
    const a = target[0].variable.dataSync();
    expect(a[0]).toBeCloseTo(1.2, 6);
    expect(a[1]).toBeCloseTo(1.7, 6);
    expect(target[1].variable.dataSync()[0]).toBeCloseTo(-3, 6);
    // The source is read, never written.
    expect(Array.from(source[0].variable.dataSync())).toEqual([3, -1]);
  });

  it('two steps compound: m^2 t + (1 - m^2) s for a fixed source', () => {
    const t = [nv('key/a', [10])];
    const s = [nv('a', [0])];
    emaUpdate(t, s, 0.5);
    emaUpdate(t, s, 0.5);
    expect(t[0].variable.dataSync()[0]).toBe(2.5);
  });

  it('m = 1 leaves the target alone and m = 0 copies the source', () => {
    const t = [nv('key/a', [1, 2])];
    const s = [nv('a', [5, 7])];
    emaUpdate(t, s, 1);
    expect(Array.from(t[0].variable.dataSync())).toEqual([1, 2]);
    emaUpdate(t, s, 0);
    expect(Array.from(t[0].variable.dataSync())).toEqual([5, 7]);
  });

  it('leaks no tensors', () => {
    const t = [nv('key/a', [1, 2])];
    const s = [nv('a', [5, 7])];
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) emaUpdate(t, s, 0.99);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects a momentum outside [0, 1] and mismatched lists', () => {
    expect(() => emaUpdate([nv('key/a', [1])], [nv('a', [1])], 1.5)).toThrow(/momentum/);
    expect(() => emaUpdate([nv('key/a', [1])], [], 0.9)).toThrow(/1 target vs 0/);
  });
});

describe('pairByName / freeze', () => {
  it('accepts a prefixed copy and rejects a misnamed or misshapen one', () => {
    const rng = new Rng(1);
    const q = new Linear('head/fc1', 3, 2, rng);
    const k = new Linear('key/head/fc1', 3, 2, rng);
    expect(() => pairByName(k.params(), q.params(), 'key/')).not.toThrow();
    const other = new Linear('key/head/fc2', 3, 2, rng);
    expect(() => pairByName(other.params(), q.params(), 'key/')).toThrow(/does not pair/);
    const wide = new Linear('key/head/fc1', 3, 4, rng);
    expect(() => pairByName(wide.params(), q.params(), 'key/')).toThrow(/shape/);
  });

  it('freeze makes every variable non-trainable, so tf.variableGrads skips it', () => {
    const rng = new Rng(2);
    const layer = new Linear('key/fc', 2, 1, rng);
    freeze(layer);
    const w = tf.variable(tf.tensor2d([[1], [1]]));
    const x = tf.tensor2d([[1, 2]]);
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.add(tf.matMul(x, w), layer.apply(x, true))) as tf.Scalar);
    expect(Object.keys(grads)).toEqual([w.name]);
    expect(layer.params().every((p) => !p.variable.trainable)).toBe(true);
    value.dispose();
  });
});
