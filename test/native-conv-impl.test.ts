// The native convolution's shape-based kernel choice (native/src/conv.cc):
// stride-1 convolutions with small outputs run oneDNN's direct jit kernel
// instead of brgconv. Every case runs forward and both gradients against the
// TF.js cpu backend (float32 reference; tolerance as in native-kernels.test.ts).
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeBackend } from '../src/backend/native.ts';
import { convShape } from '../src/backend/native-kernels.ts';
import { nativeForTests } from './native-required.ts';

const TOL = 1e-4;
const available = await nativeForTests(2);

const rnd = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed);

async function onBoth(f: () => tf.Tensor[]): Promise<[Float32Array[], Float32Array[]]> {
  const run = async (backend: string) => {
    await tf.setBackend(backend);
    return tf.tidy(() => f().map((t) => Float32Array.from(t.dataSync() as Float32Array)));
  };
  return [await run('cpu'), await run('native')];
}

function maxRelErr(cpu: Float32Array, nat: Float32Array): number {
  let scale = 1, err = 0;
  for (let k = 0; k < cpu.length; k++) {
    scale = Math.max(scale, Math.abs(cpu[k]));
    err = Math.max(err, Math.abs(cpu[k] - nat[k]));
  }
  return err / scale;
}

function shapeOf(x: number[], f: number[], stride: number, pad: 'same' | 'valid'): number[] {
  return convShape(tf.backend_util.computeConv2DInfo(x as [number, number, number, number], f as [number, number, number, number], stride, 1, pad, undefined, false, 'channelsLast'));
}

beforeAll(async () => { await tf.setBackend('cpu'); });
afterAll(async () => { await tf.setBackend('cpu'); });

describe.skipIf(!available)('native conv: small stride-1 outputs on the direct kernel', () => {
  type Case = { x: number[]; f: number[]; pad: 'same' | 'valid'; bias?: boolean; stride?: number };
  const cases: Case[] = [
    { x: [2, 4, 4, 64], f: [3, 3, 64, 64], pad: 'same' },
    { x: [3, 4, 4, 24], f: [3, 3, 24, 40], pad: 'same' },
    { x: [1, 2, 2, 32], f: [3, 3, 32, 48], pad: 'same' },
    { x: [4, 6, 6, 16], f: [3, 3, 16, 32], pad: 'valid' }, // 4x4 output from 6x6
    { x: [2, 3, 5, 20], f: [3, 3, 20, 17], pad: 'same' }, // 15 output pixels, odd channel counts
    { x: [2, 4, 4, 48], f: [2, 2, 48, 32], pad: 'same' }, // even kernel: TF pads right/bottom only
    { x: [5, 4, 4, 32], f: [3, 3, 32, 64], pad: 'same', bias: true },
  ];
  // Two threads (the default here) and one thread: the flipped backward-data runs only on one.
  for (const threads of [2, 1]) for (const c of cases) {
    it(`${threads} thread(s), x${JSON.stringify(c.x)} f${JSON.stringify(c.f)} ${c.pad}${c.bias ? ' +bias+relu' : ''}: forward and both gradients match cpu`, async () => {
      const addon = nativeBackend()!.addon;
      addon.setThreads(threads);
      try { await check(c); } finally { addon.setThreads(2); }
    });
  }

  async function check(c: Case): Promise<void> {
    {
      const before = tf.memory().numTensors;
      const [cpu, nat] = await onBoth(() => {
        const x = rnd(c.x, 1), w = rnd(c.f, 2), b = rnd([c.f[3]], 3);
        const conv = (a: tf.Tensor, k: tf.Tensor, bb: tf.Tensor) => c.bias
          ? tf.fused.conv2d({ x: a as tf.Tensor4D, filter: k as tf.Tensor4D, strides: c.stride ?? 1, pad: c.pad, bias: bb, activation: 'relu' })
          : tf.conv2d(a as tf.Tensor4D, k as tf.Tensor4D, c.stride ?? 1, c.pad);
        const y = conv(x, w, b);
        const r = rnd(y.shape, 4);
        const loss = (a: tf.Tensor, k: tf.Tensor, bb?: tf.Tensor) => tf.sum(tf.mul(conv(a, k, bb ?? b), r));
        return [y, ...(c.bias ? tf.grads(loss)([x, w, b]) : tf.grads(loss)([x, w]))];
      });
      expect(nat.length).toBe(cpu.length);
      cpu.forEach((v, i) => expect(maxRelErr(v, nat[i]), `output ${i}`).toBeLessThanOrEqual(TOL));
      expect(tf.memory().numTensors).toBe(before);
    }
  }

  // Filters move between TF.js's hwio and the primitives' blocked layouts by
  // hand-written copies (native/src/weights.cc) where the layout is one they know
  // and unpadded, by oneDNN's reorder otherwise: both must give cpu's numbers.
  it('filter copies to and from the blocked layouts: forward and both gradients match cpu', async () => {
    const addon = nativeBackend()!.addon;
    const filterCases: Case[] = [
      { x: [4, 8, 8, 16], f: [3, 3, 16, 16], pad: 'same' },
      { x: [4, 8, 8, 32], f: [3, 3, 32, 32], pad: 'same' },
      { x: [4, 8, 8, 48], f: [3, 3, 48, 48], pad: 'same' }, // 48 channels in 32-blocks: padded, oneDNN reorder
      { x: [2, 8, 8, 64], f: [3, 3, 64, 128], pad: 'same', stride: 2 },
      { x: [2, 8, 8, 64], f: [1, 1, 64, 128], pad: 'same', stride: 2 },
      { x: [4, 4, 4, 64], f: [3, 3, 64, 64], pad: 'same', bias: true },
      { x: [2, 6, 6, 3], f: [3, 3, 3, 24], pad: 'same' },
    ];
    const seen = new Set<string>();
    let avx512 = true;
    for (const c of filterCases) {
      await check(c);
      const impl = addon.convImplementations(shapeOf(c.x, c.f, c.stride ?? 1, c.pad));
      avx512 &&= impl.forward.includes('avx512');
      for (const v of Object.values(impl.filterCopies)) seen.add(v);
    }
    // Which layouts oneDNN asks for depends on the ISA; on AVX-512 these shapes use every hand-written copy.
    if (avx512) for (const l of ['Acdb16a', 'Acdb32a', 'Acdb64a', 'ABcd16b16a', 'ABcd16a16b', 'reorder']) expect(seen, l).toContain(l);
  });

  it('the 4x4 stride-1 3x3 forward does not run brgconv, its backward-data runs that forward; stride 2 and large outputs keep oneDNN\'s first choice', () => {
    const addon = nativeBackend()!.addon;
    if (!addon.info().convTuning) return; // SELFSUP_CONV_TUNING=0: nothing to check
    const small = addon.convImplementations(shapeOf([8, 4, 4, 64], [3, 3, 64, 64], 1, 'same'));
    expect(small.forward.startsWith('brgconv')).toBe(false);
    expect(small.forward).not.toBe('ref:any');
    // On one thread, backward-data of the same layer runs as that forward kernel on the flipped, transposed filter.
    expect(small.backwardData).not.toMatch(/flipped/); // this file runs on two threads
    addon.setThreads(1);
    try {
      const one = addon.convImplementations(shapeOf([8, 4, 4, 64], [3, 3, 64, 64], 1, 'same'));
      expect(one.backwardData).toMatch(/^forward\(flipped filter\) /);
      expect(one.backwardData.startsWith('forward(flipped filter) brgconv')).toBe(false);
      // A 6x6 input is too large an output for the flipped problem: oneDNN's backward-data kernel stays.
      expect(addon.convImplementations(shapeOf([8, 6, 6, 16], [3, 3, 16, 32], 1, 'valid')).backwardData).not.toMatch(/flipped/);
    } finally { addon.setThreads(2); }
    // The rule is stride-1 only: the stride-2 layer into a 4x4 output keeps what oneDNN ranks first,
    // and so does every 8x8 output, which is never moved whatever the machine.
    const first = (x: number[], f: number[], s: number) => addon.convImplementations(shapeOf(x, f, s, 'same')).forward;
    expect(first([8, 8, 8, 64], [3, 3, 64, 64], 2)).not.toBe('ref:any');
    expect(first([8, 8, 8, 64], [3, 3, 64, 64], 1)).not.toBe('ref:any');
  });
});
