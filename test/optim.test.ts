// Update rules of SGD, Adam/AdamW and LARS against numbers worked out by hand
// (2 steps on 2-element tensors) and against float64 references for longer runs.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { NamedVariable, ParamKind } from '../src/models/module.ts';
import { Adam, Lars, Sgd } from '../src/optim/index.ts';
import type { Optimizer } from '../src/optim/index.ts';
import { Rng } from '../src/util/rng.ts';
import {
  disposeAll, expectClose, gradMap, param, refAdam, refLars, refSgd, values, type RefParam,
} from './optim-helpers.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('SGD (torch.optim.SGD semantics)', () => {
  it('momentum + coupled weight decay, 2 steps by hand', () => {
    const w = param('fc/kernel', 'weight', [1, -2]);
    const opt = new Sgd([w], { momentum: 0.9, weightDecay: 0.01, nesterov: false, excludeBnBias: false });
    const g = gradMap([['fc/kernel', [0.5, 0.25]]]);
    // d = g + 0.01*w = [0.51, 0.23]; v = d; w -= 0.1*v
    opt.step(g, 0.1);
    expectClose(values(w), [0.949, -2.023]);
    // d = [0.50949, 0.22977]; v = 0.9*[0.51, 0.23] + d = [0.96849, 0.43677]
    opt.step(g, 0.1);
    expectClose(values(w), [0.852151, -2.066677]);
    expectClose(opt.slots()[0].tensor.dataSync(), [0.96849, 0.43677]);
    opt.dispose();
    disposeAll([w], g);
  });

  it('nesterov, 2 steps by hand', () => {
    const w = param('fc/kernel', 'weight', [1, -2]);
    const opt = new Sgd([w], { momentum: 0.9, weightDecay: 0.01, nesterov: true, excludeBnBias: false });
    const g = gradMap([['fc/kernel', [0.5, 0.25]]]);
    // update = d + 0.9*v = 1.9*[0.51, 0.23]
    opt.step(g, 0.1);
    expectClose(values(w), [0.9031, -2.0437]);
    // d = [0.509031, 0.229563]; v = [0.968031, 0.436563]; update = d + 0.9 v
    opt.step(g, 0.1);
    expectClose(values(w), [0.76507411, -2.10594697]);
    opt.dispose();
    disposeAll([w], g);
  });

  it('exclude_bn_bias leaves bias and bn out of decay only', () => {
    const w = param('fc/kernel', 'weight', [2]);
    const b = param('fc/bias', 'bias', [2]);
    const gamma = param('bn/gamma', 'bn', [2]);
    const opt = new Sgd([w, b, gamma], { momentum: 0.9, weightDecay: 0.5, nesterov: false, excludeBnBias: true });
    const g = gradMap([['fc/kernel', [1]], ['fc/bias', [1]], ['bn/gamma', [1]]]);
    opt.step(g, 0.1);
    expectClose(values(w), [2 - 0.1 * (1 + 0.5 * 2)]);
    expectClose(values(b), [1.9]);
    expectClose(values(gamma), [1.9]);
    opt.dispose();
    disposeAll([w, b, gamma], g);
  });

  it('momentum 0 is plain gradient descent with no slots', () => {
    const w = param('fc/kernel', 'weight', [1, 1]);
    const opt = new Sgd([w], { momentum: 0, weightDecay: 0, nesterov: false, excludeBnBias: false });
    const g = gradMap([['fc/kernel', [1, -1]]]);
    opt.step(g, 0.5);
    opt.step(g, 0.5);
    expectClose(values(w), [0, 2]);
    expect(opt.slots()).toEqual([]);
    opt.dispose();
    disposeAll([w], g);
  });
});

describe('Adam / AdamW (torch.optim semantics)', () => {
  const w0 = [1, -2];
  const grads = [[0.5, -0.1], [0.25, 0.3]];
  // Step 1: m_hat = g, v_hat = g^2, so w moves by lr*sign(g) (less a 1e-8 eps term).
  // Step 2: m = [0.07, 0.021], v = [0.00031225, 0.00009999], bc1 = 0.19, bc2 = 0.001999.
  const cases: [string, boolean, number, number[][]][] = [
    ['adam, no decay', false, 0, [[0.99, -1.99], [0.980678204, -1.994941899]]],
    // AdamW: w *= 1 - 0.01*0.1 first, then the same Adam step.
    ['adamw, decoupled decay', true, 0.1, [[0.989, -1.988], [0.978689204, -1.990953899]]],
    // Adam with L2: g' = g + 0.1*w.
    ['adam, coupled L2', false, 0.1, [[0.99, -1.99], [0.980465828, -1.986025353]]],
  ];
  for (const [label, decoupled, wd, want] of cases) {
    it(`${label}, 2 steps by hand`, () => {
      const w = param('fc/kernel', 'weight', w0);
      const opt = new Adam([w], { betas: [0.9, 0.999], eps: 1e-8, weightDecay: wd, decoupled, excludeBnBias: false });
      expect(opt.kind).toBe(decoupled ? 'adamw' : 'adam');
      for (let s = 0; s < 2; s++) {
        const g = gradMap([['fc/kernel', grads[s]]]);
        opt.step(g, 0.01);
        expectClose(values(w), want[s]);
        disposeAll([], g);
      }
      opt.dispose();
      disposeAll([w]);
    });
  }
});

describe('LARS (SimCLR official, classic momentum)', () => {
  it('trust ratio on weights, 2 steps by hand', () => {
    const w = param('fc/kernel', 'weight', [3, 4]);
    const opt = new Lars([w], { momentum: 0.9, weightDecay: 0.1, trustCoefficient: 0.001, nesterov: false, excludeBnBias: true });
    // g' = [0.8, -0.6] + 0.1*[3, 4] = [1.1, -0.2]; ||w|| = 5, ||g'|| = sqrt(1.25)
    // lr*ratio = 2 * 0.001 * 5 / 1.1180340 = 0.0089442719; w -= v = that * g'
    let g = gradMap([['fc/kernel', [0.8, -0.6]]]);
    opt.step(g, 2);
    expectClose(values(w), [2.9901613009, 4.0017888544]);
    disposeAll([], g);
    g = gradMap([['fc/kernel', [0.6, 0.8]]]);
    opt.step(g, 2);
    expectClose(values(w), [2.9753165972, 3.9954023918]);
    opt.dispose();
    disposeAll([w], g);
  });

  it('bias and bn: no decay, no adaptation; zero weight: ratio 1', () => {
    const b = param('fc/bias', 'bias', [0.5]);
    const beta = param('bn/beta', 'bn', [0.5]);
    const z = param('fc2/kernel', 'weight', [0, 0]);
    const opt = new Lars([b, beta, z], { momentum: 0.9, weightDecay: 0.1, trustCoefficient: 0.001, nesterov: false, excludeBnBias: true });
    const g = gradMap([['fc/bias', [0.2]], ['bn/beta', [0.2]], ['fc2/kernel', [1, -1]]]);
    opt.step(g, 2);
    expectClose(values(b), [0.1]);
    expectClose(values(beta), [0.1]);
    // ||w|| = 0: the ratio falls back to 1, decay of a zero weight is zero.
    expectClose(values(z), [-2, 2]);
    opt.step(g, 2);
    // v = 0.9*0.4 + 0.4 = 0.76
    expectClose(values(b), [0.1 - 0.76]);
    opt.dispose();
    disposeAll([b, beta, z], g);
  });

  it('exclude_bn_bias false adapts and decays biases too', () => {
    const b = param('fc/bias', 'bias', [3, 4]);
    const opt = new Lars([b], { momentum: 0.9, weightDecay: 0.1, trustCoefficient: 0.001, nesterov: false, excludeBnBias: false });
    const g = gradMap([['fc/bias', [0.8, -0.6]]]);
    opt.step(g, 2);
    expectClose(values(b), [2.9901613009, 4.0017888544]);
    opt.dispose();
    disposeAll([b], g);
  });
});

// Longer runs over several parameter kinds and shapes, against the float64 references.
type Ref = (p: RefParam, g: number[], lr: number, step: number) => void;

function runAgainstReference(make: (ps: NamedVariable[]) => Optimizer, ref: Ref, steps: number, lrOf: (s: number) => number) {
  const rng = new Rng('optim-ref');
  const specs: [string, ParamKind, number[]][] = [
    ['conv/kernel', 'weight', [3, 3, 2, 4]],
    ['bn/gamma', 'bn', [4]],
    ['bn/beta', 'bn', [4]],
    ['fc/kernel', 'weight', [4, 3]],
    ['fc/bias', 'bias', [3]],
  ];
  const draw = (n: number) => Array.from({ length: n }, () => rng.normal());
  const params = specs.map(([n, k, s]) => param(n, k, draw(s.reduce((a, b) => a * b, 1)), s));
  const refs: RefParam[] = params.map((p) => ({ w: Array.from(p.variable.dataSync()), kind: p.kind, state: [], t: 0 }));
  const opt = make(params);
  for (let s = 0; s < steps; s++) {
    // fc/bias gets no gradient on odd steps: it must stay untouched then.
    const entries = specs
      .map(([n, , shape], i) => [n, draw(refs[i].w.length), shape] as [string, number[], number[]])
      .filter(([n]) => !(n === 'fc/bias' && s % 2 === 1));
    const g = gradMap(entries);
    opt.step(g, lrOf(s));
    for (const [n, gv] of entries) ref(refs[specs.findIndex(([m]) => m === n)], gv, lrOf(s), s);
    disposeAll([], g);
  }
  params.forEach((p, i) => expectClose(p.variable.dataSync(), refs[i].w, 2e-5, p.name));
  opt.dispose();
  disposeAll(params);
}

describe('10 steps against float64 references', () => {
  const lrOf = (s: number) => 0.05 * (1 + s) / 10;
  it('sgd nesterov, bn/bias excluded from decay', () => {
    runAgainstReference(
      (ps) => new Sgd(ps, { momentum: 0.9, weightDecay: 0.01, nesterov: true, excludeBnBias: true }),
      (p, g, lr) => refSgd(p, g, lr, 0.9, p.kind === 'weight' ? 0.01 : 0, true),
      10, lrOf,
    );
  });
  it('lars', () => {
    runAgainstReference(
      (ps) => new Lars(ps, { momentum: 0.9, weightDecay: 1e-4, trustCoefficient: 0.001, nesterov: false, excludeBnBias: true }),
      (p, g, lr) => refLars(p, g, lr, 0.9, 1e-4, 0.001, p.kind === 'weight'),
      10, (s) => lrOf(s) * 100,
    );
  });
  it('adamw, bn/bias excluded from decay', () => {
    runAgainstReference(
      (ps) => new Adam(ps, { betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0.05, decoupled: true, excludeBnBias: true }),
      // fc/bias skips every other step: its bias correction counts only its own steps, as PyTorch's.
      (p, g, lr) => refAdam(p, g, lr, 0.9, 0.95, 1e-8, p.kind === 'weight' ? 0.05 : 0, true),
      10, lrOf,
    );
  });
});
