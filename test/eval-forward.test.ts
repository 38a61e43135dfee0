// The eval-mode (inference) forward on the native backend: batch norm with the
// running statistics in one fused pass (plus residual and ReLU), and batch norm
// folded into the convolution, against the plain tfjs path on the cpu backend
// and a float64 reference; gradients through a frozen eval-mode network; no
// tensor leak.
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { nativeBackend } from '../src/backend/native.ts';
import { BatchNorm, Conv2d, convBatchNorm } from '../src/models/layers.ts';
import { BN_EPSILON, batchNormAct, type BatchNormVars } from '../src/models/ops.ts';
import { buildBackbone, type ResNet } from '../src/models/resnet.ts';
import { Rng } from '../src/util/rng.ts';
import { nativeForTests } from './native-required.ts';

afterAll(async () => { await tf.setBackend('cpu'); });

const available = await nativeForTests(2);

function normals(rng: Rng, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = scale * rng.normal();
  return a;
}
function uniforms(rng: Rng, n: number, lo: number, hi: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.uniform(lo, hi);
  return a;
}

/** Non-trivial affine parameters and running statistics for a batch norm over c channels. */
interface BnHost { gamma: Float32Array; beta: Float32Array; mean: Float32Array; variance: Float32Array }
function bnHost(rng: Rng, c: number): BnHost {
  return { gamma: uniforms(rng, c, 0.5, 1.5), beta: normals(rng, c, 0.5), mean: normals(rng, c, 0.5), variance: uniforms(rng, c, 0.2, 3) };
}
function setBn(bn: BatchNorm, h: BnHost): void {
  tf.tidy(() => {
    bn.gamma.variable.assign(tf.tensor1d(h.gamma));
    bn.beta.variable.assign(tf.tensor1d(h.beta));
    bn.movingMean.variable.assign(tf.tensor1d(h.mean));
    bn.movingVariance.variable.assign(tf.tensor1d(h.variance));
  });
}

/** relu?(gamma * (x - mean) / sqrt(var + eps) + beta + r?) in float64, channels last. */
function referenceBn(x: Float32Array, c: number, h: BnHost, relu: boolean, r?: Float32Array): Float64Array {
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const k = i % c;
    const v = h.gamma[k] * (x[i] - h.mean[k]) / Math.sqrt(h.variance[k] + BN_EPSILON) + h.beta[k] + (r ? r[i] : 0);
    y[i] = relu && v < 0 ? 0 : v;
  }
  return y;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** The values of t (a copy), then t disposed. Not inside tf.tidy: it would walk a returned array element by element. */
function read(t: tf.Tensor): Float32Array {
  const v = (t.dataSync() as Float32Array).slice();
  t.dispose();
  return v;
}

function nativeCount(kernel: string): number {
  return nativeBackend()!.counts.native.get(kernel) ?? 0;
}

/** batchNormAct in eval mode on the active backend, for host inputs. */
function evalBnAct(shape: number[], x: Float32Array, h: BnHost, relu: boolean, r: Float32Array | undefined, groups: number): Float32Array {
  const c = shape[shape.length - 1];
  const bn = new BatchNorm('t', c);
  bn.groups = groups;
  setBn(bn, h);
  const v: BatchNormVars = bn.vars();
  const out = read(tf.tidy(() => batchNormAct(tf.tensor(x, shape), v, false, { relu, residual: r ? tf.tensor(r, shape) : undefined })));
  [...bn.params(), ...bn.buffers()].forEach((p) => p.variable.dispose());
  return out;
}

describe.skipIf(!available)('eval-mode batch norm, fused on native', () => {
  const cases: { shape: number[]; relu: boolean; residual: boolean; groups: number; cpu?: false }[] = [
    { shape: [4, 5, 5, 8], relu: false, residual: false, groups: 1 },
    { shape: [4, 5, 5, 8], relu: true, residual: false, groups: 1 },
    { shape: [3, 7, 7, 16], relu: true, residual: true, groups: 1 },
    { shape: [3, 7, 7, 16], relu: false, residual: true, groups: 1 },
    // Grouped (MoCo shuffle-BN substitute) batch norm uses the running statistics in eval mode, like any other.
    { shape: [4, 6, 6, 12], relu: true, residual: true, groups: 2 },
    { shape: [10, 24], relu: true, residual: false, groups: 1 },
    // Large enough that the kernel's multi-threaded loop runs (over 2^20 elements); float64 only, for time.
    { shape: [1025, 1024], relu: true, residual: true, groups: 1, cpu: false },
  ];
  for (const cs of cases) {
    it(`matches the cpu path and float64 for [${cs.shape}] relu=${cs.relu} residual=${cs.residual} groups=${cs.groups}`, async () => {
      const rng = new Rng(`bn-${cs.shape.join('x')}-${cs.relu}-${cs.residual}`);
      const n = cs.shape.reduce((a, d) => a * d, 1);
      const c = cs.shape[cs.shape.length - 1];
      const x = normals(rng, n, 2), h = bnHost(rng, c);
      const r = cs.residual ? normals(rng, n) : undefined;
      await tf.setBackend('cpu');
      const cpu = cs.cpu === false ? undefined : evalBnAct(cs.shape, x, h, cs.relu, r, cs.groups);
      await tf.setBackend('native');
      const fusedBefore = nativeCount('SelfsupBatchNormForward');
      const tensorsBefore = tf.memory().numTensors;
      const nat = evalBnAct(cs.shape, x, h, cs.relu, r, cs.groups);
      expect(tf.memory().numTensors).toBe(tensorsBefore);
      expect(nativeCount('SelfsupBatchNormForward')).toBe(fusedBefore + 1); // one fused kernel did it all
      const ref = referenceBn(x, c, h, cs.relu, r);
      const scale = Math.max(1, maxAbs(ref));
      expect(maxAbsDiff(nat, ref)).toBeLessThan(1e-5 * scale);
      if (cpu) {
        expect(maxAbsDiff(nat, cpu)).toBeLessThan(1e-5 * scale);
        expect(maxAbsDiff(cpu, ref)).toBeLessThan(1e-5 * scale);
      }
      if (cs.relu) expect(nat.includes(0) && nat.some((v) => v > 0)).toBe(true); // the ReLU really cut
    });
  }
});

/** conv(+bn, act) in eval mode through convBatchNorm on the active backend. */
function evalConvBn(
  seed: string, xShape: number[], x: Float32Array, outC: number, size: number, stride: number, h: BnHost,
  relu: boolean, r?: { shape: number[]; data: Float32Array },
): { y: Float32Array; shape: number[] } {
  const conv = new Conv2d('c', xShape[3], outC, size, stride, new Rng(seed));
  const bn = new BatchNorm('b', outC);
  setBn(bn, h);
  const y = tf.tidy(() => convBatchNorm(conv, bn, tf.tensor(x, xShape), false, { relu, residual: r ? tf.tensor(r.data, r.shape) : undefined }));
  const out = { shape: y.shape, y: read(y) };
  [...conv.params(), ...bn.params(), ...bn.buffers()].forEach((p) => p.variable.dispose());
  return out;
}

describe.skipIf(!available)('eval-mode conv + batch norm, folded on native', () => {
  const cases = [
    { n: 3, hw: 9, inC: 5, outC: 8, size: 3, stride: 1, relu: true, residual: false },
    { n: 3, hw: 9, inC: 5, outC: 8, size: 3, stride: 2, relu: true, residual: false },
    { n: 2, hw: 8, inC: 6, outC: 12, size: 1, stride: 2, relu: false, residual: false },
    { n: 2, hw: 8, inC: 6, outC: 6, size: 3, stride: 1, relu: true, residual: true },
    { n: 2, hw: 8, inC: 6, outC: 6, size: 3, stride: 1, relu: false, residual: true },
  ];
  for (const cs of cases) {
    it(`matches the cpu path: ${cs.size}x${cs.size}/${cs.stride} ${cs.inC}->${cs.outC} relu=${cs.relu} residual=${cs.residual}`, async () => {
      const rng = new Rng(`conv-${JSON.stringify(cs)}`);
      const xShape = [cs.n, cs.hw, cs.hw, cs.inC];
      const x = normals(rng, xShape.reduce((a, d) => a * d, 1));
      const h = bnHost(rng, cs.outC);
      const oh = Math.ceil(cs.hw / cs.stride);
      const rShape = [cs.n, oh, oh, cs.outC];
      const r = cs.residual ? { shape: rShape, data: normals(rng, rShape.reduce((a, d) => a * d, 1)) } : undefined;
      await tf.setBackend('cpu');
      const cpu = evalConvBn('w', xShape, x, cs.outC, cs.size, cs.stride, h, cs.relu, r);
      await tf.setBackend('native');
      const before = { conv: nativeCount('FusedConv2D'), bn: nativeCount('SelfsupBatchNormForward'), tensors: tf.memory().numTensors };
      const nat = evalConvBn('w', xShape, x, cs.outC, cs.size, cs.stride, h, cs.relu, r);
      expect(tf.memory().numTensors).toBe(before.tensors);
      expect(nat.shape).toEqual(cpu.shape);
      // Without a residual the batch norm rides in the conv's bias; with one, a fused pass follows the conv.
      if (cs.residual) expect(nativeCount('SelfsupBatchNormForward')).toBe(before.bn + 1);
      else expect(nativeCount('FusedConv2D')).toBe(before.conv + 1);
      expect(maxAbsDiff(nat.y, cpu.y)).toBeLessThan(1e-5 * Math.max(1, maxAbs(cpu.y)));
    });
  }
});

/** A small 2-stage ResNet (both shortcut kinds) with random running statistics, on the active backend. */
function tinyResNet(): ResNet {
  const net = buildBackbone({ arch: 'resnet', widths: [8, 16], blocks: [2, 1], inChannels: 3 }, new Rng('eval-fwd-net'));
  const rng = new Rng('eval-fwd-stats');
  for (const bn of net.batchNorms()) setBn(bn, bnHost(rng, bn.gamma.variable.shape[0]));
  return net;
}
function disposeNet(net: ResNet): void {
  [...net.params(), ...net.buffers()].forEach((p) => p.variable.dispose());
}

describe.skipIf(!available)('eval-mode ResNet forward on native', () => {
  const xShape = [5, 10, 10, 3];
  const x = normals(new Rng('eval-fwd-x'), xShape.reduce((a, d) => a * d, 1));

  it('gives the cpu backend\'s features, through the fused kernels, without leaking tensors', async () => {
    await tf.setBackend('cpu');
    const cpuNet = tinyResNet();
    const cpu = read(tf.tidy(() => cpuNet.apply(tf.tensor(x, xShape), false)));
    disposeNet(cpuNet);
    await tf.setBackend('native');
    const net = tinyResNet();
    const xt = tf.tensor(x, xShape);
    const before = { conv: nativeCount('FusedConv2D'), bn: nativeCount('SelfsupBatchNormForward'), batchNorm: nativeCount('FusedBatchNorm') };
    const tensorsBefore = tf.memory().numTensors;
    const nat = read(tf.tidy(() => net.apply(xt, false)));
    const again = read(tf.tidy(() => net.apply(xt, false)));
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    // 3 blocks: conv1 and the one projection shortcut folded, conv2 + residual + ReLU fused; plus the stem.
    expect(nativeCount('FusedConv2D') - before.conv).toBe(2 * (1 + 3 + 1));
    expect(nativeCount('SelfsupBatchNormForward') - before.bn).toBe(2 * 3);
    expect(nativeCount('FusedBatchNorm')).toBe(before.batchNorm); // no unfused batch norm left
    expect(Array.from(again)).toEqual(Array.from(nat)); // deterministic, no state changed
    expect(maxAbsDiff(nat, cpu)).toBeLessThan(1e-5 * Math.max(1, maxAbs(cpu)));
    xt.dispose();
    disposeNet(net);
  });

  it('still differentiates through a frozen eval-mode backbone (the plain path while a tape records)', async () => {
    const gradsOn = async (backend: string) => {
      await tf.setBackend(backend);
      const net = tinyResNet();
      const xt = tf.tensor(x, xShape);
      const w = tf.tensor(normals(new Rng('eval-fwd-w'), 16), [16, 1]);
      const vars = [net.stemConv.kernel.variable, net.blocks[2].bn2.gamma.variable, net.blocks[0].bn1.beta.variable];
      const tensorsBefore = tf.memory().numTensors;
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.matMul(net.apply(xt, false), w)) as tf.Scalar, vars);
      const dx = tf.grad((xi: tf.Tensor) => tf.sum(tf.matMul(net.apply(xi, false), w)))(xt);
      const out = { loss: value.dataSync()[0], g: vars.map((v) => (grads[v.name].dataSync() as Float32Array).slice()), dx: (dx.dataSync() as Float32Array).slice() };
      tf.dispose([value, dx, ...Object.values(grads)]);
      expect(tf.memory().numTensors).toBe(tensorsBefore);
      tf.dispose([xt, w]);
      disposeNet(net);
      return out;
    };
    const cpu = await gradsOn('cpu');
    const nat = await gradsOn('native');
    expect(Math.abs(nat.loss - cpu.loss)).toBeLessThan(1e-5 * Math.max(1, Math.abs(cpu.loss)));
    [...cpu.g, cpu.dx].forEach((g, i) => {
      const n = [...nat.g, nat.dx][i];
      expect(maxAbs(g)).toBeGreaterThan(0);
      expect(maxAbsDiff(n, g)).toBeLessThan(1e-4 * maxAbs(g));
    });
  });
});
