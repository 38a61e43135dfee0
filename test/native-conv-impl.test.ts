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

// Winograd F(4x4, 3x3) (native/src/winograd.cc): 3x3 stride-1 "same" layers with
// 64+ input and output channels (multiples of 16) and 64+ output tiles of 4x4.
// Every eligible problem is 38M+ multiply-adds a pass, seconds on the cpu
// backend: one case is checked against cpu, the rest against the native direct
// kernels (setConvWinograd(false)), which the tests above check against cpu.
describe.skipIf(!available)('native conv: Winograd for wide 3x3 stride-1 layers', () => {
  type Case = { x: number[]; f: number[]; stride?: number; pad?: 'same' | 'valid' };
  const implOf = (c: Case) => nativeBackend()!.addon.convImplementations(shapeOf(c.x, c.f, c.stride ?? 1, c.pad ?? 'same'));
  const wino = (impl: { forward: string; backwardData: string; backwardWeights: string }) =>
    [impl.forward, impl.backwardData, impl.backwardWeights].map((s) => s.includes('wino'));
  // oneDNN 2.6 has Winograd kernels for AVX-512 only; elsewhere every case runs direct (and must still match).
  const hasWinograd = () => implOf({ x: [4, 16, 16, 64], f: [3, 3, 64, 64] }).forward.includes('wino');

  async function gradsOn(c: Case, backend: string): Promise<Float32Array[]> {
    await tf.setBackend(backend);
    return tf.tidy(() => {
      const x = rnd(c.x, 11), w = rnd(c.f, 12);
      const conv = (a: tf.Tensor, k: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, k as tf.Tensor4D, c.stride ?? 1, c.pad ?? 'same');
      const y = conv(x, w);
      const r = rnd(y.shape, 13);
      return [y, ...tf.grads((a: tf.Tensor, k: tf.Tensor) => tf.sum(tf.mul(conv(a, k), r)))([x, w])]
        .map((t) => Float32Array.from(t.dataSync() as Float32Array));
    });
  }

  /** The native results with Winograd off (direct kernels), then on. */
  async function directThenWinograd(c: Case): Promise<[Float32Array[], Float32Array[]]> {
    const addon = nativeBackend()!.addon;
    addon.setConvWinograd(false);
    let direct: Float32Array[];
    try {
      expect(addon.info().convWinograd).toBe(false);
      expect(wino(implOf(c))).toEqual([false, false, false]);
      direct = await gradsOn(c, 'native');
    } finally { addon.setConvWinograd(true); }
    // info() says whether Winograd runs: allowed and this CPU has the kernels.
    expect(addon.info().convWinograd).toBe(hasWinograd());
    return [direct, await gradsOn(c, 'native')];
  }

  it('x[4,16,16,64] f[3,3,64,64] (exactly 64 tiles): forward and both gradients match cpu', async () => {
    const c: Case = { x: [4, 16, 16, 64], f: [3, 3, 64, 64] };
    const before = tf.memory().numTensors;
    const [cpu, nat] = [await gradsOn(c, 'cpu'), await gradsOn(c, 'native')];
    cpu.forEach((v, i) => expect(maxRelErr(v, nat[i]), `output ${i}`).toBeLessThanOrEqual(TOL));
    expect(tf.memory().numTensors).toBe(before);
    if (hasWinograd()) expect(wino(implOf(c))).toEqual([true, true, true]);
  });

  const eligible: Case[] = [
    { x: [4, 16, 16, 64], f: [3, 3, 64, 128] }, // more outputs than inputs
    { x: [16, 8, 8, 128], f: [3, 3, 128, 80] }, // fewer, and 80 = 5 blocks of 16
    { x: [8, 10, 10, 64], f: [3, 3, 64, 64] }, // 10x10: partial tiles at the edges
    { x: [64, 4, 4, 256], f: [3, 3, 256, 256] }, // ResNet-18's last stage at batch 32 (two views)
  ];
  for (const threads of [2, 1]) for (const c of eligible) {
    it(`${threads} thread(s), x${JSON.stringify(c.x)} f${JSON.stringify(c.f)}: Winograd on all three passes, within float rounding of the direct kernels`, async () => {
      const addon = nativeBackend()!.addon;
      addon.setThreads(threads);
      try {
        const before = tf.memory().numTensors;
        const [direct, w] = await directThenWinograd(c);
        // The same sums in another order: a few float32 ulps of each output's scale (measured 1e-6 to 4e-6).
        direct.forEach((v, i) => expect(maxRelErr(v, w[i]), `output ${i}`).toBeLessThanOrEqual(2e-5));
        expect(tf.memory().numTensors).toBe(before);
        if (hasWinograd()) {
          expect(wino(implOf(c))).toEqual([true, true, true]);
          // It really is another computation, not the direct kernels under another name.
          for (let i = 0; i < 3; i++) expect(direct[i].some((v, k) => v !== w[i][k]), `output ${i}`).toBe(true);
        }
      } finally { addon.setThreads(2); }
    });
  }

  it('is chosen by shape only: narrow, strided, unpadded, odd-channel and small problems stay on the direct kernels', () => {
    const direct: Case[] = [
      { x: [64, 32, 32, 32], f: [3, 3, 32, 32] }, // 32 channels: Winograd measured slower
      { x: [8, 16, 16, 64], f: [3, 3, 64, 64], stride: 2 },
      { x: [8, 18, 18, 64], f: [3, 3, 64, 64], pad: 'valid' },
      { x: [8, 16, 16, 72], f: [3, 3, 72, 64] }, // 72 input channels: not whole blocks of 16
      { x: [8, 16, 16, 64], f: [1, 1, 64, 64] },
      { x: [3, 16, 16, 64], f: [3, 3, 64, 64] }, // 48 tiles
      { x: [8, 4, 4, 512], f: [3, 3, 512, 512] }, // 8 tiles: the filter transform would dominate
    ];
    for (const c of direct) expect(wino(implOf(c)), JSON.stringify(c)).toEqual([false, false, false]);
    if (hasWinograd()) expect(wino(implOf({ x: [4, 16, 16, 64], f: [3, 3, 64, 64] }))).toEqual([true, true, true]);
  });
});
