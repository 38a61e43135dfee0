import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { backboneFromRecipe, buildMethod } from '../src/methods/index.ts';
import { buildMoco, KEY_PREFIX, type MoCo } from '../src/methods/moco.ts';
import { batchNormsOf, batchShuffle, OutputNorm } from '../src/methods/moco-bn.ts';
import { batchContrastiveLoss, queueContrastiveLoss } from '../src/methods/moco-loss.ts';
import { createOptimizer } from '../src/optim/index.ts';
import { StepRunner } from '../src/train/step.ts';
import { UserError } from '../src/util/errors.ts';
import { Rng } from '../src/util/rng.ts';
import { syntheticViews, tinyRecipe } from './moco-helpers.ts';

beforeAll(async () => { await tf.setBackend('cpu'); });

const unit = (v: number[]) => { const n = Math.hypot(...v); return v.map((x) => x / n); };
const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i], 0);
/** -log softmax(logits)[target], in plain JS. */
const ce = (logits: number[], target: number) => {
  const mx = Math.max(...logits);
  return Math.log(logits.reduce((s, l) => s + Math.exp(l - mx), 0)) + mx - logits[target];
};

function build(method: Record<string, unknown>, train: Record<string, unknown> = {}): MoCo {
  const r = tinyRecipe(method, train);
  const rng = new Rng('t');
  return buildMoco(r, backboneFromRecipe(r, rng), rng);
}

describe('MoCo losses', () => {
  it('queue loss matches a hand-computed case', () => {
    // q = k = e1 (scaled: normalization is part of the loss), negatives e2 and -e1; T = 0.5:
    // logits [1, 0, -1] / 0.5 = [2, 0, -2]; loss = -log(e^2 / (e^2 + 1 + e^-2)).
    const q = tf.tensor2d([[3, 0]]);
    const k = tf.tensor2d([[0.5, 0]]);
    const queue = tf.tensor2d([[0, 1], [-1, 0]]);
    const loss = queueContrastiveLoss(q, k, queue, 0.5).dataSync()[0];
    expect(loss).toBeCloseTo(-Math.log(Math.exp(2) / (Math.exp(2) + 1 + Math.exp(-2))), 5);
  });

  it('queue loss matches a plain-JS reference on random vectors', () => {
    const rng = new Rng(3);
    const draw = (n: number, d: number) => Array.from({ length: n }, () => Array.from({ length: d }, () => rng.normal()));
    const q = draw(4, 5); const k = draw(4, 5); const neg = draw(7, 5).map(unit);
    const t = 0.2;
    const want = q.map((qi, i) => {
      const qu = unit(qi);
      return ce([dot(qu, unit(k[i])), ...neg.map((n) => dot(qu, n))].map((l) => l / t), 0);
    }).reduce((a, b) => a + b) / 4;
    const got = queueContrastiveLoss(tf.tensor2d(q), tf.tensor2d(k), tf.tensor2d(neg), t).dataSync()[0];
    expect(got).toBeCloseTo(want, 4);
  });

  it('v3 in-batch loss: hand case and scaling by 2T', () => {
    // Two orthogonal pairs, T = 0.5: each row's logits [2, 0] -> -log(e^2/(e^2+1)); times 2T = 1.
    const e = tf.tensor2d([[1, 0], [0, 2]]);
    const loss = batchContrastiveLoss(e, e, 0.5).dataSync()[0];
    expect(loss).toBeCloseTo(-Math.log(Math.exp(2) / (Math.exp(2) + 1)), 5);
    const rng = new Rng(4);
    const q = Array.from({ length: 3 }, () => [rng.normal(), rng.normal(), rng.normal()]);
    const k = Array.from({ length: 3 }, () => [rng.normal(), rng.normal(), rng.normal()]);
    const t = 0.2;
    const want = 2 * t * q.reduce((s, qi, i) => s + ce(k.map((kj) => dot(unit(qi), unit(kj)) / t), i), 0) / 3;
    expect(batchContrastiveLoss(tf.tensor2d(q), tf.tensor2d(k), t).dataSync()[0]).toBeCloseTo(want, 4);
  });
});

describe('MoCo momentum', () => {
  it('v3 cosine schedule: m0 after the first step... 1 at the end', () => {
    const m = build({ name: 'mocov3', momentum: 0.99, momentum_schedule: true });
    // Update after step s uses the momentum of step s + 1: 1 - (1 - m0) (cos(pi (s+1)/S) + 1) / 2.
    expect(m.momentumAfter(-1, 10)).toBeCloseTo(0.99, 12);
    expect(m.momentumAfter(4, 10)).toBeCloseTo(0.995, 12);
    expect(m.momentumAfter(1, 10)).toBeCloseTo(1 - 0.01 * (Math.cos(Math.PI * 0.2) + 1) / 2, 12);
    expect(m.momentumAfter(9, 10)).toBe(1);
    expect(m.metrics({ step: 4, totalSteps: 10, epoch: 0 }).momentum).toBeCloseTo(0.995, 12);
    m.dispose();
  });

  it('v2 keeps a constant momentum', () => {
    const m = build({ name: 'mocov2', queue_size: 32, momentum: 0.9 });
    expect(m.momentumAfter(0, 10)).toBe(0.9);
    expect(m.momentumAfter(8, 10)).toBe(0.9);
    m.dispose();
  });
});

describe('MoCo key encoder', () => {
  it('starts as a copy, named key/..., outside trainable() and inside state()', () => {
    const m = build({ name: 'mocov2', queue_size: 32 });
    const trainable = m.trainable().map((p) => p.name);
    const state = m.state().map((p) => p.name);
    expect(trainable.some((n) => n.startsWith(KEY_PREFIX))).toBe(false);
    expect(state).toContain('key/backbone/stem/conv/kernel');
    expect(state).toContain('key/head/fc2/kernel');
    expect(state).toContain('key/backbone/stem/bn/moving_mean');
    expect(state).toContain('moco/queue/keys');
    expect(state).toContain('moco/queue/pointer');
    const all = [...trainable, ...state];
    expect(new Set(all).size).toBe(all.length);
    const q = m.backbone.params()[0].variable.dataSync();
    const k = m.keyBackbone.params()[0].variable.dataSync();
    expect(Array.from(k)).toEqual(Array.from(q));
    m.dispose();
  });

  it('gets no gradient and moves only by the EMA of the updated query encoder', async () => {
    const m = build({ name: 'mocov2', queue_size: 32, momentum: 0.9, symmetric: true, temperature: 0.2 }, { batch_size: 8 });
    const { view1, view2 } = syntheticViews(0, 8);
    const ctx = { step: 0, totalSteps: 10, epoch: 0 };
    // Every trainable tf.Variable in existence: the key encoder's are not among them.
    const pre = m.beforeStep(view1, view2, ctx);
    const { value, grads } = tf.variableGrads(() => m.loss(view1, view2, ctx, pre));
    const keyIds = new Set([...m.keyBackbone.params(), ...m.keyHead.params()].map((p) => p.variable.name));
    expect(Object.keys(grads).some((id) => keyIds.has(id))).toBe(false);
    expect(Object.keys(grads).length).toBe(m.trainable().length);
    value.dispose(); Object.values(grads).forEach((g) => g.dispose()); pre.forEach((t) => t.dispose());

    const before = m.backbone.params()[0].variable.dataSync().slice();
    const opt = createOptimizer(tinyRecipe({ name: 'mocov2' }).optim, m.trainable());
    await new StepRunner(m, opt, m.trainable()).run(view1, view2, ctx, 0.5);
    const after = m.backbone.params()[0].variable.dataSync();
    const key = m.keyBackbone.params()[0].variable.dataSync();
    expect(Array.from(after)).not.toEqual(Array.from(before));
    // key = 0.9 * (copy of the old query weights) + 0.1 * new query weights.
    for (let i = 0; i < key.length; i++) expect(key[i]).toBeCloseTo(0.9 * before[i] + 0.1 * after[i], 6);
    // The queue received the 2N = 16 keys of the symmetric step.
    expect(m.queue!.position()).toBe(16);
    opt.dispose(); m.dispose(); view1.dispose(); view2.dispose();
  });

  it('v3: the predictor trains, keys come from both views, the EMA uses the scheduled momentum', async () => {
    const m = build({ name: 'mocov3', momentum: 0.9, momentum_schedule: true, temperature: 0.2 });
    const { view1, view2 } = syntheticViews(2, 8);
    const ctx = { step: 3, totalSteps: 8, epoch: 0 };
    expect(m.trainable().some((p) => p.name.startsWith('predictor/'))).toBe(true);
    const pre = m.beforeStep(view1, view2, ctx);
    expect(pre.map((t) => t.shape)).toEqual([[8, 8], [8, 8]]);
    pre.forEach((t) => t.dispose());
    const before = m.head.params()[0].variable.dataSync().slice();
    const predBefore = m.predictor!.params()[0].variable.dataSync().slice();
    const opt = createOptimizer(tinyRecipe({ name: 'mocov3' }).optim, m.trainable());
    await new StepRunner(m, opt, m.trainable()).run(view1, view2, ctx, 0.5);
    const after = m.head.params()[0].variable.dataSync();
    expect(Array.from(m.predictor!.params()[0].variable.dataSync())).not.toEqual(Array.from(predBefore));
    // After step 3 of 8 the update uses m(4) = 1 - 0.1 (cos(pi/2) + 1) / 2 = 0.95.
    const key = m.keyHead.params()[0].variable.dataSync();
    for (let i = 0; i < key.length; i++) expect(key[i]).toBeCloseTo(0.95 * before[i] + 0.05 * after[i], 6);
    opt.dispose(); m.dispose(); view1.dispose(); view2.dispose();
  });

  it('the step leaks no tensors', async () => {
    const m = build({ name: 'mocov2', queue_size: 32, bn_splits: 2 });
    const opt = createOptimizer(tinyRecipe({ name: 'mocov2' }).optim, m.trainable());
    const runner = new StepRunner(m, opt, m.trainable());
    const { view1, view2 } = syntheticViews(0, 8);
    await runner.run(view1, view2, { step: 0, totalSteps: 4, epoch: 0 }, 0.1);
    const n = tf.memory().numTensors;
    await runner.run(view1, view2, { step: 1, totalSteps: 4, epoch: 0 }, 0.1);
    await runner.run(view1, view2, { step: 2, totalSteps: 4, epoch: 0 }, 0.1);
    expect(tf.memory().numTensors).toBe(n);
    opt.dispose(); m.dispose(); view1.dispose(); view2.dispose();
  });
});

describe('MoCo split batch norm', () => {
  it('reaches every batch norm of both encoders, heads included', () => {
    const m = build({ name: 'mocov3', bn_splits: 4 });
    const all = [m.backbone, m.head, m.predictor!, m.keyBackbone, m.keyHead].flatMap(batchNormsOf);
    // 2-stage ResNet: stem + 2 per block + 1 projection shortcut = 6; head 1 + output 1; predictor 1; key 6 + 1 + 1.
    expect(all.length).toBe(17);
    expect(all.every((bn) => bn.groups === 4)).toBe(true);
    m.dispose();
  });

  it('batchShuffle gives a permutation and its inverse', () => {
    const { perm, inverse } = batchShuffle(16, new Rng(5));
    const p = Array.from(perm.dataSync());
    expect([...p].sort((a, b) => a - b)).toEqual(Array.from({ length: 16 }, (_, i) => i));
    const x = tf.range(0, 16).mul(10);
    expect(Array.from(tf.gather(tf.gather(x, perm), inverse).dataSync())).toEqual(Array.from(x.dataSync()));
  });

  it('with one group, shuffled keys would equal unshuffled ones: keys match a direct forward pass', () => {
    const m = build({ name: 'mocov2', queue_size: 32 });
    const { view1, view2 } = syntheticViews(1, 8);
    const [k2] = m.beforeStep(view1, view2, { step: 0, totalSteps: 1, epoch: 0 });
    const direct = tf.tidy(() => {
      const z = m.keyHead.apply(m.keyBackbone.apply(view2, true), true) as tf.Tensor2D;
      return tf.div(z, tf.norm(z, 'euclidean', 1, true));
    });
    const a = k2.dataSync(); const b = direct.dataSync();
    for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i], 5);
    m.dispose();
  });
});

describe('MoCo output batch norm', () => {
  it('centres and scales each embedding dimension over the batch, with nothing to train', () => {
    const norm = new OutputNorm('out', 3);
    const rng = new Rng(7);
    // Every row shares a large common direction, as a random-init encoder's outputs do.
    const rows = Array.from({ length: 6 }, () => [10 + rng.normal(), 5 + rng.normal(), -3 + 0.1 * rng.normal()]);
    const y = (norm.apply(tf.tensor2d(rows), true) as tf.Tensor2D).arraySync();
    for (let j = 0; j < 3; j++) {
      const col = rows.map((r) => r[j]);
      const mean = col.reduce((a, b) => a + b) / 6;
      const variance = col.reduce((a, b) => a + (b - mean) ** 2, 0) / 6;
      y.forEach((r, i) => expect(r[j]).toBeCloseTo((col[i] - mean) / Math.sqrt(variance + 1e-5), 4));
    }
    expect(norm.params()).toEqual([]);
    expect(norm.buffers().every((v) => !v.variable.trainable)).toBe(true);
    norm.buffers().forEach((v) => v.variable.dispose());
  });

  it('sits on both heads by default, is off with output_batch_norm: false, and the key copy stays paired', () => {
    const on = build({ name: 'mocov2', queue_size: 32 });
    const names = on.state().map((p) => p.name);
    expect(names).toContain('head/out_bn/moving_mean');
    expect(names).toContain('key/head/out_bn/moving_mean');
    expect(on.trainable().some((p) => p.name.includes('out_bn'))).toBe(false);
    // A random-init batch of keys no longer shares one direction: the mean cosine, |mean key|^2, is ~0.
    const { view1, view2 } = syntheticViews(0, 8);
    const [k] = on.beforeStep(view1, view2, { step: 0, totalSteps: 1, epoch: 0 });
    const cos = tf.tidy(() => tf.mean(tf.matMul(k, k, false, true)).dataSync()[0]);
    k.dispose(); on.dispose();
    const r = tinyRecipe({ name: 'mocov2', queue_size: 32 });
    (r.method as unknown as Record<string, unknown>).output_batch_norm = false;
    const rng = new Rng('t');
    const off = buildMoco(r, backboneFromRecipe(r, rng), rng);
    expect(off.state().some((p) => p.name.includes('out_bn'))).toBe(false);
    const [kOff] = off.beforeStep(view1, view2, { step: 0, totalSteps: 1, epoch: 0 });
    const cosOff = tf.tidy(() => tf.mean(tf.matMul(kOff, kOff, false, true)).dataSync()[0]);
    // |mean key|^2: ~0 once the output is centred over the batch, well above it without.
    expect(cos).toBeLessThan(0.05);
    expect(cosOff).toBeGreaterThan(0.2);
    kOff.dispose(); off.dispose(); view1.dispose(); view2.dispose();
  });
});

describe('buildMoco checks', () => {
  it('rejects a queue that is not a multiple of the keys per step, naming the keys', () => {
    expect(() => build({ name: 'mocov2', queue_size: 20 })).toThrow(UserError);
    expect(() => build({ name: 'mocov2', queue_size: 24, symmetric: true })).toThrow(/method.queue_size: 24 .* 16 keys .* use e.g. 32/);
    expect(() => build({ name: 'mocov2', queue_size: 24 }).dispose()).not.toThrow();
  });

  it('rejects bn_splits that do not divide the batch or a kept short batch', () => {
    expect(() => build({ name: 'mocov3', bn_splits: 3 })).toThrow(/method.bn_splits: 3 does not divide train.batch_size 8/);
    expect(() => build({ name: 'mocov3', bn_splits: 2 }, { drop_last: false })).toThrow(/drop_last/);
  });

  it('buildMethod dispatches mocov2 and mocov3 here', async () => {
    for (const name of ['mocov2', 'mocov3'] as const) {
      const m = await buildMethod(tinyRecipe({ name, queue_size: 32 }));
      expect(m.name).toBe(name);
      m.dispose();
    }
  });
});
