// The host loops (cpu/wasm fast path) and the plain-tfjs path must give the same
// bits on the cpu backend: the loops round each intermediate as the tfjs ops do.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { NamedVariable } from '../src/models/module.ts';
import { createOptimizer, useHostMath, type MathMode } from '../src/optim/index.ts';
import type { OptimConfig } from '../src/recipe/sections/optim.ts';
import { Rng } from '../src/util/rng.ts';
import { disposeAll, gradMap, param } from './optim-helpers.ts';
import { nativeForTests } from './native-required.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const base: OptimConfig = {
  name: 'sgd', lr: 0.06, lr_scaling: 'linear', momentum: 0.9, weight_decay: 0.01, nesterov: false,
  trust_coefficient: 0.001, betas: [0.9, 0.99], eps: 1e-8, warmup_epochs: 0, schedule: 'cosine',
  min_lr: 0, milestones: [], gamma: 0.1,
};

const smallSpecs: [string, 'weight' | 'bias' | 'bn', number[]][] = [
  ['m/conv/kernel', 'weight', [3, 3, 2, 3]],
  ['m/bn/gamma', 'bn', [3]],
  ['m/fc/kernel', 'weight', [3, 2]],
  ['m/fc/bias', 'bias', [2]],
  ['m/zero/kernel', 'weight', [2, 2]],
];
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** 6 steps with varying lr; fc/bias skips odd steps; zero/kernel starts at 0 (LARS ratio fallback). */
function run(cfg: OptimConfig, math: MathMode, specs = smallSpecs): { initial: Float32Array[]; params: Float32Array[]; slots: [string, Float32Array][]; leaked: number } {
  const rng = new Rng('paths');
  // Seeded normals for the small tensors; a seeded xorshift stream for big ones (per-element normals would take seconds).
  const noise = (n: number, scale: number): Float32Array => {
    const a = new Float32Array(n);
    if (n <= 4096) {
      for (let i = 0; i < n; i++) a[i] = rng.normal() * scale;
      return a;
    }
    let x = rng.seed() | 1;
    for (let i = 0; i < n; i++) {
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
      a[i] = ((x >>> 0) / 2 ** 32 - 0.5) * 3.4 * scale;
    }
    return a;
  };
  const params: NamedVariable[] = specs.map(([n, k, s]) => param(n, k, n.includes('zero') ? new Float32Array(size(s)) : noise(size(s), 1), s));
  const initial = params.map((p) => Float32Array.from(p.variable.dataSync()));
  const opt = createOptimizer(cfg, params, { math });
  let tensorsAfterFirst = 0;
  for (let step = 0; step < 6; step++) {
    const g = gradMap(specs
      .filter(([n]) => !(n === 'm/fc/bias' && step % 2 === 1))
      .map(([n, , s]) => [n, noise(size(s), 0.1), s]));
    opt.step(g, 0.05 + 0.01 * step);
    disposeAll([], g);
    if (step === 0) tensorsAfterFirst = tf.memory().numTensors;
  }
  const out = {
    initial,
    params: params.map((p) => Float32Array.from(p.variable.dataSync())),
    slots: opt.slots().map((s) => [s.name, Float32Array.from(s.tensor.dataSync())] as [string, Float32Array]),
    leaked: tf.memory().numTensors - tensorsAfterFirst,
  };
  opt.dispose();
  disposeAll(params);
  return out;
}

const cases: [string, Partial<OptimConfig>][] = [
  ['sgd', {}],
  ['sgd nesterov, bn/bias excluded', { nesterov: true, exclude_bn_bias: true }],
  ['sgd without momentum', { momentum: 0 }],
  ['lars', { name: 'lars', weight_decay: 1e-4 }],
  ['lars nesterov, all adapted', { name: 'lars', nesterov: true, exclude_bn_bias: false }],
  ['adam with L2', { name: 'adam' }],
  ['adamw', { name: 'adamw', weight_decay: 0.05, exclude_bn_bias: true }],
];

describe('host loops vs tfjs ops on the cpu backend', () => {
  it('auto picks host math on cpu', () => {
    expect(useHostMath('auto')).toBe(true);
    expect(useHostMath('tensor')).toBe(false);
  });
  for (const [label, over] of cases) {
    it(`${label}: identical bits, no leaks`, () => {
      const cfg = { ...base, ...over };
      const host = run(cfg, 'host');
      const tensor = run(cfg, 'tensor');
      expect(host.leaked).toBe(0);
      expect(tensor.leaked).toBe(0);
      expect(host.slots.map(([n]) => n)).toEqual(tensor.slots.map(([n]) => n));
      host.params.forEach((p, i) => expect(p).toEqual(tensor.params[i]));
      host.slots.forEach(([, s], i) => expect(s).toEqual(tensor.slots[i][1]));
      // The runs did move every parameter (so the comparison is not vacuous).
      host.params.forEach((p, i) => expect(p).not.toEqual(host.initial[i]));
    });
  }
});

describe('backend choice of the math path', () => {
  it('treats a backend built on the CPU backend class as host memory', async () => {
    const cpuClass = tf.findBackend('cpu')!.constructor as new () => tf.KernelBackend;
    class DerivedCpu extends cpuClass {}
    tf.registerBackend('optim-test-derived-cpu', () => new DerivedCpu());
    try {
      expect(await tf.setBackend('optim-test-derived-cpu')).toBe(true);
      expect(useHostMath('auto')).toBe(true);
    } finally {
      await tf.setBackend('cpu');
      tf.removeBackend('optim-test-derived-cpu');
    }
  });

  it('uses tfjs ops on wasm, with the same results as on cpu', async () => {
    await import('@tensorflow/tfjs-backend-wasm');
    const cfg: OptimConfig = { ...base, name: 'lars', nesterov: true };
    const cpu = run(cfg, 'auto');
    try {
      expect(await tf.setBackend('wasm')).toBe(true);
      expect(useHostMath('auto')).toBe(false);
      const wasm = run(cfg, 'auto');
      expect(wasm.leaked).toBe(0);
      wasm.params.forEach((p, i) => p.forEach((x, j) => expect(x).toBeCloseTo(cpu.params[i][j], 5)));
    } finally {
      await tf.setBackend('cpu');
    }
  });
});

// The native backend runs the same updates as one addon call per parameter
// (native/src/optim.cc). One parameter is big enough for the multi-threaded
// loops (> 2^20 values) and LARS's blocked norm.
describe('addon update kernels on native vs the host loops on cpu', () => {
  const bigSpecs: typeof smallSpecs = [...smallSpecs, ['m/big/kernel', 'weight', [3, 3, 128, 1000]]];
  for (const [label, over] of cases) {
    it(`${label}: ${label.startsWith('lars') ? 'within a float ulp' : 'identical bits'}, no leaks`, async () => {
      const cfg = { ...base, ...over };
      await tf.setBackend('cpu');
      const cpu = run(cfg, 'host', bigSpecs);
      if (!(await nativeForTests(2))) return;
      try {
        expect(await tf.setBackend('native')).toBe(true);
        const native = run(cfg, 'auto', bigSpecs);
        expect(native.leaked).toBe(0);
        expect(native.slots.map(([n]) => n)).toEqual(cpu.slots.map(([n]) => n));
        // (Plain loops: expect().toEqual on million-element arrays takes seconds.)
        const same = (got: Float32Array, want: Float32Array) => {
          expect(got.length).toBe(want.length);
          let differing = 0, worst = 0;
          for (let i = 0; i < want.length; i++) {
            if (Object.is(got[i], want[i])) continue;
            differing++;
            worst = Math.max(worst, Math.abs(got[i] - want[i]) / Math.max(1e-3, Math.abs(want[i])));
          }
          // LARS's norms are summed in another order: at most a last-bit change of the trust ratio.
          if (label.startsWith('lars')) expect(worst).toBeLessThan(1e-6);
          else expect(differing).toBe(0);
        };
        native.params.forEach((p, i) => same(p, cpu.params[i]));
        native.slots.forEach(([, s], i) => same(s, cpu.slots[i][1]));
        native.params.forEach((p, i) => expect(p.some((x, j) => x !== native.initial[i][j])).toBe(true));
      } finally {
        await tf.setBackend('cpu');
      }
    });
  }
});
