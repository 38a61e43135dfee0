// Each wasm training shim against the cpu backend's own kernel, on seeded random
// inputs of several geometries. Tolerance: |wasm - cpu| <= 1e-4 * max|cpu| + 1e-6
// (float32 sums of at most a few hundred products; XNNPACK sums in another order).
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadWasm } from '../src/backend/wasm.ts';
import { convGradGeometry } from '../src/backend/wasm-conv-grad.ts';
import { registerWasmTrainingKernels } from '../src/backend/wasm-kernels.ts';
import { Rng } from '../src/util/rng.ts';
import { expectAllClose, randn, runOn, size } from './wasm-helpers.ts';

type Pad = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;
interface Case {
  name: string;
  x: [number, number, number, number];
  k: [number, number, number, number];
  strides: [number, number];
  pad: Pad;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

const CASES: Case[] = [
  { name: '3x3 s1 same, odd 7x5, batch 1', x: [1, 7, 5, 3], k: [3, 3, 3, 4], strides: [1, 1], pad: 'same' },
  { name: '3x3 s2 same, odd 9x9', x: [2, 9, 9, 2], k: [3, 3, 2, 5], strides: [2, 2], pad: 'same' },
  { name: '3x3 s2 same, even 8x8', x: [2, 8, 8, 3], k: [3, 3, 3, 4], strides: [2, 2], pad: 'same' },
  { name: '3x3 s2 valid, 9x7', x: [2, 9, 7, 2], k: [3, 3, 2, 3], strides: [2, 2], pad: 'valid' },
  { name: '3x3 s1 valid, batch 1', x: [1, 6, 6, 4], k: [3, 3, 4, 2], strides: [1, 1], pad: 'valid' },
  { name: '1x1 s2 same (shortcut), 8x8', x: [2, 8, 8, 4], k: [1, 1, 4, 6], strides: [2, 2], pad: 'same' },
  { name: '1x1 s2 same, odd 7x7', x: [1, 7, 7, 3], k: [1, 1, 3, 2], strides: [2, 2], pad: 'same' },
  { name: '1x1 s2 explicit padding top/left', x: [2, 6, 7, 3], k: [1, 1, 3, 2], strides: [2, 2], pad: [[0, 0], [1, 0], [1, 1], [0, 0]] },
  { name: '1x1 s1 valid', x: [2, 5, 5, 3], k: [1, 1, 3, 4], strides: [1, 1], pad: 'valid' },
  { name: '5x3 s(2,1) explicit padding', x: [2, 9, 6, 2], k: [5, 3, 2, 3], strides: [2, 1], pad: [[0, 0], [2, 1], [0, 1], [0, 0]] },
  { name: '3x3 s3 numeric pad 1, ceil rounding', x: [1, 10, 8, 2], k: [3, 3, 2, 2], strides: [3, 3], pad: 1, dimRoundingMode: 'ceil' },
  { name: '4x4 s2 same (even kernel, asymmetric pad)', x: [1, 8, 9, 2], k: [4, 4, 2, 3], strides: [2, 2], pad: 'same' },
];

function outShape(c: Case): [number, number, number, number] {
  const info = tf.backend_util.computeConv2DInfo(c.x, c.k, c.strides, 1, c.pad, c.dimRoundingMode, false, 'channelsLast');
  return info.outShape as [number, number, number, number];
}

function attrs(c: Case): tf.NamedAttrMap {
  return { strides: c.strides, pad: c.pad as tf.NamedAttrMap[string], dataFormat: 'NHWC', dimRoundingMode: c.dimRoundingMode } as tf.NamedAttrMap;
}

beforeAll(async () => {
  // One thread: the stock single-threaded build; threads are tested in wasm-threads.test.ts.
  const r = await loadWasm({ threads: 1 });
  expect(r.ok, JSON.stringify(r)).toBe(true);
  await tf.setBackend('wasm');
  expect(tf.getBackend()).toBe('wasm');
});

describe('Conv2DBackpropFilter on wasm matches the cpu kernel', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const rng = new Rng(`dw:${c.name}`);
      const dyShape = outShape(c);
      const x = randn(rng, size(c.x));
      const dy = randn(rng, size(dyShape));
      const run = () => [tf.engine().runKernel(tf.Conv2DBackpropFilter,
        { x: tf.tensor4d(x, c.x), dy: tf.tensor4d(dy, dyShape) },
        { ...attrs(c), filterShape: c.k }) as tf.Tensor];
      const [ref] = await runOn('cpu', run);
      const [got] = await runOn('wasm', run);
      expectAllClose(got, ref, 1e-4, 1e-6, c.name);
    });
  }
});

describe('Conv2DBackpropInput on wasm (replaced by a composition) matches the cpu kernel', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const rng = new Rng(`dx:${c.name}`);
      const dyShape = outShape(c);
      const w = randn(rng, size(c.k));
      const dy = randn(rng, size(dyShape));
      const run = () => [tf.engine().runKernel(tf.Conv2DBackpropInput,
        { dy: tf.tensor4d(dy, dyShape), filter: tf.tensor4d(w, c.k) },
        { ...attrs(c), inputShape: c.x }) as tf.Tensor];
      const [ref] = await runOn('cpu', run);
      const [got] = await runOn('wasm', run);
      expectAllClose(got, ref, 1e-4, 1e-6, c.name);
    });
  }
});

describe('conv2d gradients through tf.grads on wasm match cpu', () => {
  it('stride 2 same, both gradients', async () => {
    const rng = new Rng('grads');
    const xs: [number, number, number, number] = [2, 7, 7, 3];
    const ks: [number, number, number, number] = [3, 3, 3, 4];
    const x = randn(rng, size(xs));
    const k = randn(rng, size(ks));
    const run = () => {
      const f = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same')));
      return tf.grads(f)([tf.tensor4d(x, xs), tf.tensor4d(k, ks)]);
    };
    const ref = await runOn('cpu', run);
    const got = await runOn('wasm', run);
    expectAllClose(got[0], ref[0], 1e-4, 1e-6, 'dx');
    expectAllClose(got[1], ref[1], 1e-4, 1e-6, 'dW');
  });
});

describe('UnsortedSegmentSum on wasm matches the cpu kernel', () => {
  it('2-D data, repeated and out-of-range ids are dropped like cpu', async () => {
    const rng = new Rng('segsum');
    const data = randn(rng, 6 * 4);
    const ids = [2, 0, 2, 5, -1, 1]; // 5 and -1 are outside [0, 4)
    const run = () => [tf.unsortedSegmentSum(tf.tensor2d(data, [6, 4]), tf.tensor1d(ids, 'int32'), 4)];
    const [ref] = await runOn('cpu', run);
    const [got] = await runOn('wasm', run);
    expectAllClose(got, ref, 1e-6, 1e-6, 'segment sum');
    // Hand check of segment 2 = rows 0 and 2.
    for (let j = 0; j < 4; j++) expect(got[2 * 4 + j]).toBeCloseTo(data[j] + data[8 + j], 5);
  });

  it('gather gradient (3-D params, axis 1) matches cpu', async () => {
    const rng = new Rng('gather');
    const p = randn(rng, 2 * 5 * 3);
    const w = randn(rng, 2 * 4 * 3);
    const run = () => [tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.gather(a, tf.tensor1d([4, 0, 4, 2], 'int32'), 1), tf.tensor3d(w, [2, 4, 3]))))(tf.tensor3d(p, [2, 5, 3]))];
    const [ref] = await runOn('cpu', run);
    const [got] = await runOn('wasm', run);
    expectAllClose(got, ref, 1e-5, 1e-6, 'gather grad');
  });
});

describe('shim bookkeeping', () => {
  it('kernels leak no tensors and no backend buffers', async () => {
    await tf.setBackend('wasm');
    const c = CASES[1];
    const dyShape = outShape(c);
    const x = tf.zeros(c.x);
    const dy = tf.ones(dyShape);
    const w = tf.ones(c.k);
    const seg = tf.ones([3, 2]);
    const ids = tf.tensor1d([0, 1, 0], 'int32');
    const backend = tf.backend() as tf.KernelBackend & { numDataIds(): number };
    const once = () => {
      const a = tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, { ...attrs(c), filterShape: c.k }) as tf.Tensor;
      const b = tf.engine().runKernel(tf.Conv2DBackpropInput, { dy, filter: w }, { ...attrs(c), inputShape: c.x }) as tf.Tensor;
      const s = tf.unsortedSegmentSum(seg, ids, 2);
      tf.dispose([a, b, s]);
    };
    once();
    const tensors = tf.memory().numTensors;
    const buffers = backend.numDataIds();
    for (let i = 0; i < 3; i++) once();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(backend.numDataIds()).toBe(buffers);
    // The inputs survive the kernels that read them.
    expect(Array.from(await dy.data()).every((v) => v === 1)).toBe(true);
    tf.dispose([x, dy, w, seg, ids]);
  });

  it('registration is idempotent and rejects what it cannot do', () => {
    const first = registerWasmTrainingKernels();
    expect(registerWasmTrainingKernels()).toEqual(first);
    expect(first).toEqual(expect.arrayContaining(['Conv2DBackpropFilter', 'Conv2DBackpropInput', 'UnsortedSegmentSum']));
    expect(() => convGradGeometry({ strides: 1, pad: 'same', dataFormat: 'NCHW' }, 'Conv2DBackpropFilter')).toThrow(/only NHWC/);
    expect(() => convGradGeometry({ strides: 1, pad: 'same', dataFormat: 'NHWC', dilations: [2, 2] }, 'Conv2DBackpropFilter')).toThrow(/dilation/);
  });
});
