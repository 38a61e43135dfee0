// A whole SimCLR training step (ResNet + projection head + NT-Xent + SGD) on the
// native backend against the TF.js cpu backend from the same initial weights.
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { tinySimclr, type TinyOptions } from './tiny-simclr.ts';
import { nativeBackend } from '../src/backend/native.ts';
import { nativeForTests } from './native-required.ts';

afterAll(async () => { await tf.setBackend('cpu'); });

interface StepOut { loss: number; grads: Map<string, Float32Array>; lossAfter: number; moving: Float32Array[] }

/** Loss and gradients, then one SGD step and the loss again, from a fixed seed. */
function trainStep(opts?: TinyOptions): StepOut {
  const { method, v1, v2 } = tinySimclr(opts);
  const params = method.trainable();
  try {
    const { value, grads } = tf.variableGrads(() => method.loss(v1, v2), params.map((p) => p.variable));
    const loss = value.dataSync()[0];
    const out = new Map<string, Float32Array>();
    for (const p of params) out.set(p.name, Float32Array.from(grads[p.variable.name].dataSync()));
    const sgd = tf.train.sgd(0.1);
    sgd.applyGradients(grads);
    sgd.dispose();
    value.dispose();
    tf.dispose(Object.values(grads));
    const after = tf.tidy(() => method.loss(v1, v2).dataSync()[0]);
    const moving = method.state().map((s) => Float32Array.from(s.variable.dataSync()));
    return { loss, grads: out, lossAfter: after, moving };
  } finally {
    method.dispose();
    tf.dispose([v1, v2]);
  }
}

const available = await nativeForTests(2);

describe.skipIf(!available)('a full training step, native vs cpu', () => {
  it('gives the same loss, gradients, updated loss and running statistics', async () => {
    await tf.setBackend('cpu');
    const cpu = trainStep();
    await tf.setBackend('native');
    const before = tf.memory().numTensors;
    const nat = trainStep();
    expect(tf.memory().numTensors).toBe(before);
    // Loss: float32 sums in a different order; 1e-4 relative is ~100 ulps.
    expect(Math.abs(nat.loss - cpu.loss)).toBeLessThan(1e-4 * Math.abs(cpu.loss));
    expect(Math.abs(nat.lossAfter - cpu.lossAfter)).toBeLessThan(1e-4 * Math.abs(cpu.lossAfter));
    expect(nat.lossAfter).not.toBe(nat.loss); // the step did something
    // Gradients pass through up to 6 batch norms at batch 12: allow 1e-3 of each tensor's scale.
    for (const [name, g] of cpu.grads) {
      const n = nat.grads.get(name)!;
      const scale = Math.max(1e-3, ...Array.from(g, Math.abs));
      const err = Math.max(...Array.from(g, (v, i) => Math.abs(v - n[i])));
      expect(err, `${name}: ${err} vs scale ${scale}`).toBeLessThan(1e-3 * scale);
    }
    cpu.moving.forEach((m, i) => {
      const err = Math.max(...Array.from(m, (v, k) => Math.abs(v - nat.moving[i][k])));
      expect(err).toBeLessThan(1e-4 * Math.max(1, ...Array.from(m, Math.abs)));
    });
    // The hot kernels really ran natively.
    const counts = nativeBackend()!.counts.native;
    for (const k of ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter', 'BatchMatMul']) expect(counts.get(k) ?? 0).toBeGreaterThan(0);
  });

  // A 64-channel stage at 16x16 over 12 views: its 3x3 block convolutions run
  // Winograd (native/src/winograd.cc) on AVX-512. The cpu backend would take
  // ~30 s for this model, so the reference is the same step on the direct
  // kernels, which the test above checks against cpu.
  it('through Winograd layers, gives the direct kernels\' loss, gradients and updated loss within float rounding', async () => {
    await tf.setBackend('native');
    const addon = nativeBackend()!.addon;
    const wide: TinyOptions = { widths: [64], blocks: [1], size: 16 };
    addon.setConvWinograd(false);
    let direct: StepOut;
    try { direct = trainStep(wide); } finally { addon.setConvWinograd(true); }
    const before = tf.memory().numTensors;
    const wino = trainStep(wide);
    expect(tf.memory().numTensors).toBe(before);
    const block = addon.convImplementations([12, 16, 16, 64, 3, 3, 64, 16, 16, 1, 1, 1, 1, 1, 1, 1, 1]);
    const ran = block.forward.includes('wino');
    if (ran) expect([block.backwardData, block.backwardWeights].every((s) => s.includes('wino'))).toBe(true);
    expect(Math.abs(wino.loss - direct.loss)).toBeLessThan(1e-5 * Math.abs(direct.loss));
    expect(Math.abs(wino.lossAfter - direct.lossAfter)).toBeLessThan(1e-5 * Math.abs(direct.lossAfter));
    let differs = false;
    for (const [name, g] of direct.grads) {
      const w = wino.grads.get(name)!;
      const scale = Math.max(1e-3, ...Array.from(g, Math.abs));
      const err = Math.max(...Array.from(g, (v, i) => Math.abs(v - w[i])));
      expect(err, `${name}: ${err} vs scale ${scale}`).toBeLessThan(1e-4 * scale);
      differs ||= err > 0;
    }
    // Where Winograd ran it computed something else in the last bits: the comparison above was not of a path with itself.
    if (ran) expect(differs).toBe(true);
  });
});
