// Optimizer state for checkpoints: stable slot names, exact resume, no tensor
// leaks, grads left to the caller, and bad checkpoints rejected as user errors.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { NamedVariable } from '../src/models/module.ts';
import { createOptimizer, type Optimizer } from '../src/optim/index.ts';
import type { OptimConfig } from '../src/recipe/sections/optim.ts';
import { isUserError } from '../src/util/errors.ts';
import { Rng } from '../src/util/rng.ts';
import { disposeAll, gradMap, param } from './optim-helpers.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function config(over: Partial<OptimConfig>): OptimConfig {
  return {
    name: 'sgd', lr: 0.06, lr_scaling: 'linear', momentum: 0.9, weight_decay: 5e-4, nesterov: false,
    trust_coefficient: 0.001, betas: [0.9, 0.999], eps: 1e-8, warmup_epochs: 0, schedule: 'cosine',
    min_lr: 0, milestones: [], gamma: 0.1, ...over,
  };
}

function model(w: number[][]): NamedVariable[] {
  return [
    param('net/conv/kernel', 'weight', w[0], [1, 1, 2, 2]),
    param('net/bn/gamma', 'bn', w[1]),
    param('net/fc/bias', 'bias', w[2]),
  ];
}

const names = ['net/conv/kernel', 'net/bn/gamma', 'net/fc/bias'];
const shapes = [[1, 1, 2, 2], [2], [2]];

function randomGrads(rng: Rng): Map<string, tf.Tensor> {
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  return gradMap(names.map((n, i) => [n, Array.from({ length: size(shapes[i]) }, () => rng.normal()), shapes[i]]));
}

function stepRandom(opt: Optimizer, rng: Rng, lr: number): void {
  const g = randomGrads(rng);
  opt.step(g, lr);
  disposeAll([], g);
}

const snapshot = (ps: NamedVariable[]) => ps.map((p) => Float32Array.from(p.variable.dataSync()));

const kinds: OptimConfig['name'][] = ['sgd', 'lars', 'adam', 'adamw'];

describe.each(kinds)('%s state', (name) => {
  const cfg = config({ name, nesterov: name === 'sgd', weight_decay: 0.01 });

  it('resumes exactly from saved slots', () => {
    const init = [[0.5, -1, 2, 0.25], [1, 1], [0, 0.1]];
    const a = model(init);
    const optA = createOptimizer(cfg, a);
    const rngA = new Rng('resume');
    for (let s = 0; s < 3; s++) stepRandom(optA, rngA, 0.1);

    // What a checkpoint would store: parameter values, slot values, rng state.
    const savedParams = snapshot(a).map((x) => Array.from(x));
    const savedSlots = new Map(optA.slots().map((s) => [s.name, Float32Array.from(s.tensor.dataSync())]));
    const savedRng = rngA.state();

    for (let s = 3; s < 6; s++) stepRandom(optA, rngA, 0.1);

    const b = model(savedParams);
    const optB = createOptimizer(cfg, b);
    optB.loadSlots(savedSlots);
    const rngB = new Rng(0, savedRng);
    for (let s = 3; s < 6; s++) stepRandom(optB, rngB, 0.1);

    expect(snapshot(b)).toEqual(snapshot(a));
    const slotsA = optA.slots().map((s) => [s.name, Array.from(s.tensor.dataSync())]);
    const slotsB = optB.slots().map((s) => [s.name, Array.from(s.tensor.dataSync())]);
    expect(slotsB).toEqual(slotsA);
    for (const o of [optA, optB]) o.dispose();
    disposeAll([...a, ...b]);
  });

  it('has stable slot names and leaks no tensors', () => {
    const ps = model([[1, 2, 3, 4], [1, 1], [0, 0]]);
    const before = tf.memory().numTensors;
    const opt = createOptimizer(cfg, ps);
    const slotNames = opt.slots().map((s) => s.name);
    const perParam = name === 'adam' || name === 'adamw' ? ['exp_avg', 'exp_avg_sq'] : ['momentum'];
    const expected = [
      ...(name === 'adam' || name === 'adamw' ? ['adam/step'] : []),
      ...names.flatMap((n) => perParam.map((s) => `${n}/${s}`)),
    ];
    expect(slotNames).toEqual(expected);
    expect(opt.kind).toBe(name);

    const rng = new Rng('leak');
    const g = randomGrads(rng);
    opt.step(g, 0.1);
    const after1 = tf.memory().numTensors;
    for (let s = 0; s < 4; s++) opt.step(g, 0.1);
    expect(tf.memory().numTensors).toBe(after1);
    for (const t of g.values()) expect(t.isDisposed).toBe(false);
    expect(opt.slots().map((s) => s.name)).toEqual(slotNames);

    disposeAll([], g);
    opt.dispose();
    expect(tf.memory().numTensors).toBe(before);
    disposeAll(ps);
  });

  it('rejects a checkpoint with missing or misshapen slots, leaving state alone', () => {
    const ps = model([[1, 2, 3, 4], [1, 1], [0, 0]]);
    const opt = createOptimizer(cfg, ps);
    const rng = new Rng('bad');
    stepRandom(opt, rng, 0.1);
    const good = new Map(opt.slots().map((s) => [s.name, Float32Array.from(s.tensor.dataSync())]));

    const missing = new Map(good);
    missing.delete(opt.slots()[opt.slots().length - 1].name);
    expect(() => opt.loadSlots(missing)).toThrow(/lacks optimizer slot/);

    const zeroed = new Map([...good].map(([k, v]) => [k, new Float32Array(v.length)]));
    const firstSlot = opt.slots()[0].name;
    zeroed.set(firstSlot, new Float32Array(good.get(firstSlot)!.length + 1));
    let err: unknown;
    try { opt.loadSlots(zeroed); } catch (e) { err = e; }
    expect(isUserError(err)).toBe(true);
    expect(String(err)).toContain(firstSlot);
    // Nothing was assigned: the slots still hold the good values.
    for (const s of opt.slots()) expect(Float32Array.from(s.tensor.dataSync())).toEqual(good.get(s.name));

    // Tensors are accepted too, and extra entries are ignored.
    const asTensors = new Map<string, tf.Tensor | Float32Array>(
      opt.slots().map((s) => [s.name, tf.zerosLike(s.tensor)]),
    );
    asTensors.set('something/else', new Float32Array(3));
    opt.loadSlots(asTensors);
    for (const s of opt.slots()) expect(Array.from(s.tensor.dataSync()).every((x) => x === 0)).toBe(true);
    for (const t of asTensors.values()) if (t instanceof tf.Tensor) t.dispose();
    opt.dispose();
    disposeAll(ps);
  });
});

describe('createOptimizer', () => {
  it('throws on a gradient for an unknown parameter and skips parameters without one', () => {
    const ps = model([[1, 2, 3, 4], [1, 1], [0, 0]]);
    const opt = createOptimizer(config({}), ps);
    const bad = gradMap([['net/nope', [1]]]);
    expect(() => opt.step(bad, 0.1)).toThrow(/unknown parameter 'net\/nope'/);
    const partial = gradMap([['net/bn/gamma', [1, 1]]]);
    opt.step(partial, 0.1);
    expect(Array.from(ps[0].variable.dataSync())).toEqual([1, 2, 3, 4]);
    // sgd does not exclude bn by default: 1 - 0.1 * (1 + 5e-4 * 1)
    for (const x of ps[1].variable.dataSync()) expect(x).toBeCloseTo(0.89995, 6);
    expect(Array.from(ps[2].variable.dataSync())).toEqual([0, 0]);
    opt.dispose();
    disposeAll(ps, bad);
    disposeAll([], partial);
  });

  it('exclude_bn_bias defaults to true for lars and false for sgd', () => {
    const run = (over: Partial<OptimConfig>): number => {
      const b = param('net/fc/bias', 'bias', [1]);
      const opt = createOptimizer(config({ momentum: 0.5, weight_decay: 0.5, ...over }), [b]);
      const g = gradMap([['net/fc/bias', [0]]]);
      opt.step(g, 0.1);
      const out = b.variable.dataSync()[0];
      opt.dispose();
      disposeAll([b], g);
      return out;
    };
    expect(run({ name: 'sgd' })).toBeCloseTo(1 - 0.1 * 0.5, 6);
    expect(run({ name: 'sgd', exclude_bn_bias: true })).toBe(1);
    expect(run({ name: 'lars' })).toBe(1);
    // Not excluded: decayed and adapted; zero gradient plus decay -> ratio eta*|w|/|wd*w| = eta/wd.
    expect(run({ name: 'lars', exclude_bn_bias: false })).toBeCloseTo(1 - 0.1 * (0.001 / 0.5) * 0.5, 7);
  });

  it('nesterov without momentum is a user error', () => {
    const ps = model([[1, 2, 3, 4], [1, 1], [0, 0]]);
    let err: unknown;
    try { createOptimizer(config({ nesterov: true, momentum: 0 }), ps); } catch (e) { err = e; }
    expect(isUserError(err)).toBe(true);
    expect(String(err)).toMatch(/optim\.nesterov/);
    disposeAll(ps);
  });
});
