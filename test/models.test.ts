import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { batchNorm, BN_EPSILON } from '../src/models/ops.ts';
import { buildBackbone } from '../src/models/resnet.ts';
import { buildProjectionHead } from '../src/models/heads.ts';
import { Rng } from '../src/util/rng.ts';

beforeAll(async () => { await tf.setBackend('cpu'); });

function bnVars(c: number) {
  return {
    gamma: tf.variable(tf.tensor1d(Array.from({ length: c }, (_, i) => 1 + 0.1 * i))),
    beta: tf.variable(tf.tensor1d(Array.from({ length: c }, (_, i) => -0.2 * i))),
    movingMean: tf.variable(tf.zeros([c]), false),
    movingVariance: tf.variable(tf.ones([c]), false),
  };
}

/** Training-mode batch norm written with plain differentiable tfjs ops (autodiff gradient). */
function bnReference(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor {
  const axes = Array.from({ length: x.rank - 1 }, (_, i) => i);
  const { mean, variance } = tf.moments(x, axes, true);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, BN_EPSILON))), gamma), beta);
}

describe('batchNorm (custom gradient)', () => {
  it('matches the autodiff reference in value and gradients', () => {
    const x = tf.randomNormal([4, 3, 3, 5], 1, 2, 'float32', 7);
    const w = tf.randomNormal([4, 3, 3, 5], 0, 1, 'float32', 8); // makes the upstream gradient non-uniform
    const v = bnVars(5);
    const ours = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(batchNorm(a, { ...v, gamma: g as tf.Variable, beta: b as tf.Variable }, true), w)));
    const ref = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(bnReference(a, g, b), w)));
    const g1 = ours([x, v.gamma, v.beta]);
    const g2 = ref([x, v.gamma, v.beta]);
    for (let i = 0; i < 3; i++) {
      const a = g1[i].dataSync(); const b = g2[i].dataSync();
      for (let j = 0; j < a.length; j++) expect(a[j]).toBeCloseTo(b[j], 4);
    }
    const y1 = batchNorm(x, v, true).dataSync();
    const y2 = bnReference(x, v.gamma, v.beta).dataSync();
    for (let j = 0; j < y1.length; j++) expect(y1[j]).toBeCloseTo(y2[j], 4);
  });

  it('updates running statistics like PyTorch (momentum 0.1, unbiased variance)', () => {
    const v = bnVars(1);
    const x = tf.tensor4d([1, 2, 3, 6], [4, 1, 1, 1]);
    batchNorm(x, v, true).dispose();
    // mean 3, unbiased variance ((4+1+0+9)/3) = 14/3
    expect(v.movingMean.dataSync()[0]).toBeCloseTo(0.3, 6);
    expect(v.movingVariance.dataSync()[0]).toBeCloseTo(0.9 + 0.1 * (14 / 3), 5);
  });

  it('normalizes each group separately with groups > 1', () => {
    const v = bnVars(1);
    const x = tf.tensor2d([[0], [2], [100], [104]]);
    const y = batchNorm(x, { ...v, gamma: tf.variable(tf.ones([1])), beta: tf.variable(tf.zeros([1])) }, true, 2).dataSync();
    // each group of two becomes (-1, +1) up to epsilon
    expect(y[0]).toBeCloseTo(-1, 3); expect(y[1]).toBeCloseTo(1, 3);
    expect(y[2]).toBeCloseTo(-1, 3); expect(y[3]).toBeCloseTo(1, 3);
  });

  it('uses running statistics in eval mode', () => {
    const v = bnVars(1);
    v.movingMean.assign(tf.tensor1d([2]));
    v.movingVariance.assign(tf.tensor1d([4]));
    const y = batchNorm(tf.tensor2d([[4]]), v, false).dataSync()[0];
    expect(y).toBeCloseTo((4 - 2) / Math.sqrt(4 + BN_EPSILON), 5);
  });
});

describe('ResNet backbone and head', () => {
  it('has the expected output shapes, parameter names and seeded init', () => {
    const a = buildBackbone({ arch: 'resnet', widths: [8, 16], blocks: [1, 1], inChannels: 1 }, new Rng(1));
    const b = buildBackbone({ arch: 'resnet', widths: [8, 16], blocks: [1, 1], inChannels: 1 }, new Rng(1));
    const y = a.apply(tf.ones([2, 12, 12, 1]), true);
    expect(y.shape).toEqual([2, 16]);
    expect(a.featureDim).toBe(16);
    const names = a.params().map((p) => p.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toContain('backbone/layer2.0/shortcut/conv/kernel');
    expect(a.params()[0].variable.dataSync()).toEqual(b.params()[0].variable.dataSync());
    const head = buildProjectionHead(16, 32, 8, new Rng(2));
    expect(head.apply(y, true).shape).toEqual([2, 8]);
    expect(head.params().map((p) => p.name)).toEqual(['head/fc1/kernel', 'head/bn1/gamma', 'head/bn1/beta', 'head/fc2/kernel', 'head/fc2/bias']);
  });

  it('resnet18 has the standard CIFAR layout (11.2M parameters)', () => {
    const m = buildBackbone({ arch: 'resnet18', widths: [], blocks: [], inChannels: 3 }, new Rng(0));
    const count = m.params().reduce((s, p) => s + p.variable.size, 0);
    // torchvision resnet18 without fc, CIFAR stem (3x3 conv, 64): 11,168,832 parameters.
    expect(count).toBe(11_168_832);
    expect(m.featureDim).toBe(512);
  });
});
