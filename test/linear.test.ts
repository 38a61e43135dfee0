import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import {
  linearProbe, fitSoftmaxRegression, fitStandardizer, standardize, carveValidation, accuracyFromScores, type ProbeData,
} from '../src/eval/linear.ts';
import { ProtocolError, weightsHash, assertWeightsUnchanged, exactOverlap } from '../src/eval/guard.ts';
import { Rng } from '../src/util/rng.ts';
import type { Module, NamedVariable } from '../src/models/module.ts';

/** Linearly separable classes: label c sits at a distinct random centre, noise far below the centre spacing. */
function separable(rng: Rng, n: number, dim: number, c: number, centres: Float32Array, role: ProbeData['role']): ProbeData {
  const features = new Float32Array(n * dim);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const l = i % c;
    labels[i] = l;
    for (let j = 0; j < dim; j++) features[i * dim + j] = 5 + 3 * centres[l * dim + j] + 0.1 * rng.normal();
  }
  return { features, labels, dim, role };
}

const baseCfg = { epochs: 15, lr: 0.1, weight_decay: [0, 1e-3], batch_size: 32, momentum: 0.9, schedule: 'cosine' as const, val_fraction: 0.2 };

describe('linear probe', () => {
  beforeAll(async () => { await tf.setBackend('cpu'); });

  it('standardizes with the fitting set statistics (hand-computed)', () => {
    const s = fitStandardizer(new Float32Array([1, 10, 3, 10]), 2);
    expect(Array.from(s.mean)).toEqual([2, 10]);
    expect(Array.from(s.std)).toEqual([1, 1]); // second column constant -> std 1, not 0
    expect(Array.from(standardize(new Float32Array([4, 12]), 2, s))).toEqual([2, 2]);
  });

  it('reaches ~100% on linearly separable synthetic features and reports the final epoch', async () => {
    const rng = new Rng(7);
    const dim = 12;
    const c = 4;
    const centres = Float32Array.from({ length: c * dim }, () => rng.normal());
    const train = separable(rng, 200, dim, c, centres, 'train');
    const test = separable(rng, 80, dim, c, centres, 'test');
    const before = tf.memory().numTensors;
    const r = await linearProbe(train, test, { ...baseCfg, numClasses: c, rng: new Rng(1) });
    expect(tf.memory().numTensors).toBe(before);
    expect(r.top1).toBeGreaterThanOrEqual(0.99);
    expect(r.search.map((t) => t.weight_decay)).toEqual([0, 1e-3]);
    expect(r.search.every((t) => t.val_top1_final >= 0.95)).toBe(true);
    expect(r.loss_curve).toHaveLength(15);
    expect(r.loss_curve[14]).toBeLessThan(r.loss_curve[0]);
    expect(r.test_overlap).toBe(0);
    // Same seed, same result.
    const r2 = await linearProbe(train, test, { ...baseCfg, numClasses: c, rng: new Rng(1) });
    expect(Array.from(r2.predictions)).toEqual(Array.from(r.predictions));
    expect(r2.loss_curve).toEqual(r.loss_curve);
  });

  it('one full-batch step matches a hand-written softmax-regression gradient step', async () => {
    // 2 points, 2 features, 2 classes, zero init: logits 0, p = 0.5 each.
    // grad W = X^T (P - Y) / n on standardized X; first step with momentum buffer 0: W = -lr * grad.
    const train: ProbeData = { features: new Float32Array([0, 2, 2, 0]), labels: new Int32Array([0, 1]), dim: 2, role: 'train' };
    const { model } = await fitSoftmaxRegression(train, {
      numClasses: 2, epochs: 1, lr: 0.5, weightDecay: 0, batchSize: 2, momentum: 0.9, schedule: 'constant', rng: new Rng(0),
    });
    // Standardized X = [[-1, 1], [1, -1]]; P - Y = [[-0.5, 0.5], [0.5, -0.5]].
    // X^T (P - Y) / 2 = [[0.5, -0.5], [-0.5, 0.5]] -> W = -0.5 * that.
    const want = [-0.25, 0.25, 0.25, -0.25];
    Array.from(model.weights).forEach((v, i) => expect(v).toBeCloseTo(want[i], 6));
    Array.from(model.bias).forEach((v) => expect(v).toBeCloseTo(0, 6));
  });

  it('matches a plain-tfjs autodiff reference over two epochs (momentum, decay, cosine)', async () => {
    const rng = new Rng(9);
    const dim = 5;
    const c = 3;
    const n = 23;
    const train: ProbeData = {
      features: Float32Array.from({ length: n * dim }, () => rng.normal() * 2 + 1),
      labels: Int32Array.from({ length: n }, () => rng.int(c)), dim, role: 'train',
    };
    const o = { numClasses: c, epochs: 2, lr: 0.3, weightDecay: 0.01, batchSize: 7, momentum: 0.9, schedule: 'cosine' as const };
    const { model, history } = await fitSoftmaxRegression(train, { ...o, rng: new Rng(4) });

    // Reference: tf.variableGrads on the same objective, same shuffles, same step sizes.
    const x = standardize(train.features, dim, fitStandardizer(train.features, dim));
    const w = tf.variable(tf.zeros([dim, c]));
    const b = tf.variable(tf.zeros([c]));
    let vw = tf.zeros([dim, c]);
    let vb = tf.zeros([c]);
    const order = Int32Array.from({ length: n }, (_, i) => i);
    const r = new Rng(4);
    const total = o.epochs * Math.ceil(n / o.batchSize);
    let step = 0;
    const refLoss: number[] = [];
    tf.tidy(() => { for (let ep = 0; ep < o.epochs; ep++) {
      r.shuffle(order);
      let sum = 0;
      for (let s = 0; s < n; s += o.batchSize) {
        const rows = Array.from(order.slice(s, Math.min(n, s + o.batchSize)));
        const lr = o.lr * 0.5 * (1 + Math.cos(Math.PI * step / total));
        const xb = tf.tensor2d(rows.flatMap((i) => Array.from(x.subarray(i * dim, (i + 1) * dim))), [rows.length, dim]);
        const yb = tf.oneHot(tf.tensor1d(rows.map((i) => train.labels[i]), 'int32'), c).toFloat();
        const decay = w.square().sum().mul(0.5 * o.weightDecay).dataSync()[0];
        const { value, grads } = tf.variableGrads(() => {
          const l = tf.logSoftmax(xb.matMul(w).add(b)).mul(yb).sum(1).mean().neg();
          return l.add(w.square().sum().mul(0.5 * o.weightDecay)) as tf.Scalar;
        }, [w, b]);
        sum += (value.dataSync()[0] - decay) * rows.length;
        vw = vw.mul(o.momentum).add(grads[w.name]);
        vb = vb.mul(o.momentum).add(grads[b.name]);
        w.assign(w.sub(vw.mul(lr)));
        b.assign(b.sub(vb.mul(lr)));
        step++;
      }
      refLoss.push(sum / n);
    } });
    const refW = tf.transpose(w).dataSync(); // [dim, c] -> our [c, dim]
    Array.from(model.weights).forEach((v, i) => expect(v).toBeCloseTo(refW[i], 4));
    Array.from(model.bias).forEach((v, i) => expect(v).toBeCloseTo(b.dataSync()[i], 4));
    history.forEach((h, i) => expect(h.loss).toBeCloseTo(refLoss[i], 4));
  });

  it('refuses to train on the test split', async () => {
    const d: ProbeData = { features: new Float32Array(8), labels: new Int32Array([0, 1, 0, 1]), dim: 2, role: 'test' };
    const t: ProbeData = { ...d, role: 'test' };
    await expect(linearProbe(d, t, { ...baseCfg, numClasses: 2, rng: new Rng(0) })).rejects.toThrow(ProtocolError);
    // Test rows passed as train rows (role lost) are caught by the overlap check.
    const rng = new Rng(3);
    const f = Float32Array.from({ length: 40 }, () => rng.normal());
    const asTrain: ProbeData = { features: f, labels: new Int32Array(20).map((_, i) => i % 2), dim: 2, role: 'train' };
    const asTest: ProbeData = { features: f.slice(0, 20), labels: new Int32Array(10), dim: 2, role: 'test' };
    expect(exactOverlap(asTrain.features, asTest.features, 2)).toBe(1);
    // One genuine duplicate among ten test rows is tolerated and counted.
    const fewDup = Float32Array.from({ length: 20 }, () => rng.normal());
    fewDup.set(f.subarray(6, 8), 0);
    expect(exactOverlap(f, fewDup, 2)).toBeCloseTo(0.1, 12);
    await expect(linearProbe(asTrain, asTest, { ...baseCfg, numClasses: 2, rng: new Rng(0) })).rejects.toThrow(/test split/);
  });

  it('the weight guard fires when a backbone changes during evaluation', async () => {
    const v = tf.variable(tf.tensor1d([1, 2, 3]), false);
    const m: Module = {
      apply: (x) => x,
      params: (): NamedVariable[] => [{ name: 'bb/w', variable: v, kind: 'weight' }],
      buffers: () => [],
    };
    const h = await weightsHash(m);
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    await expect(assertWeightsUnchanged(m, h, 'probe')).resolves.toBeUndefined();
    v.assign(tf.tensor1d([1, 2, 3.0001]));
    await expect(assertWeightsUnchanged(m, h, 'probe')).rejects.toThrow(ProtocolError);
    v.dispose();
  });

  it('carves a disjoint validation split and scores top-5 from logits', () => {
    const { fit, val } = carveValidation(10, 0.3, new Rng(5));
    expect(val.length).toBe(3);
    expect(new Set([...fit, ...val]).size).toBe(10);
    // 6 classes; label 5 ranks 6th in row 0 (miss for top-5), 1st in row 1.
    const scores = new Float32Array([6, 5, 4, 3, 2, 1, 0, 0, 0, 0, 0, 9]);
    const acc = accuracyFromScores(scores, new Int32Array([5, 5]), 6);
    expect(acc.top1).toBe(0.5);
    expect(acc.top5).toBe(0.5);
    expect(Array.from(acc.predictions)).toEqual([0, 5]);
  });
});
