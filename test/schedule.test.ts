// Learning-rate scaling, warmup + cosine / step schedules and the EMA momentum
// schedule, against values worked out by hand.
import { describe, expect, it } from 'vitest';
import { lrAt, lrScheduleFor, momentumAt, scaledLr } from '../src/optim/schedule.ts';
import type { OptimConfig } from '../src/recipe/sections/optim.ts';
import { isUserError } from '../src/util/errors.ts';

describe('scaledLr', () => {
  it('linear, sqrt and none', () => {
    expect(scaledLr(0.3, 512, 'linear')).toBeCloseTo(0.6, 12);
    expect(scaledLr(0.06, 256, 'linear')).toBeCloseTo(0.06, 12);
    // SimCLR paper: 0.075 * sqrt(4096) = 0.075 * 64 = 4.8
    expect(scaledLr(0.075, 4096, 'sqrt')).toBeCloseTo(4.8, 12);
    expect(scaledLr(0.5, 1000, 'none')).toBe(0.5);
  });
});

describe('lrAt', () => {
  const cos = { warmupSteps: 10, schedule: 'cosine' as const };
  it('warms up linearly from 0, as SimCLR', () => {
    expect(lrAt(0, 110, 2, cos)).toBe(0);
    expect(lrAt(5, 110, 2, cos)).toBeCloseTo(1, 12);
    expect(lrAt(9, 110, 2, cos)).toBeCloseTo(1.8, 12);
  });
  it('cosine after warmup: peak, quarter, half, end, clamped after', () => {
    expect(lrAt(10, 110, 2, cos)).toBeCloseTo(2, 12);
    // s/S = 1/4: (1 + cos(pi/4))/2 = 0.8535533906
    expect(lrAt(35, 110, 2, cos)).toBeCloseTo(2 * 0.8535533906, 9);
    expect(lrAt(60, 110, 2, cos)).toBeCloseTo(1, 12);
    expect(lrAt(110, 110, 2, cos)).toBeCloseTo(0, 12);
    expect(lrAt(150, 110, 2, cos)).toBeCloseTo(0, 12);
  });
  it('cosine with a floor', () => {
    const opts = { ...cos, minLr: 0.2 };
    expect(lrAt(60, 110, 2, opts)).toBeCloseTo(1.1, 12);
    expect(lrAt(110, 110, 2, opts)).toBeCloseTo(0.2, 12);
  });
  it('cosine never increases after warmup', () => {
    let prev = Infinity;
    for (let s = 10; s <= 120; s++) {
      const lr = lrAt(s, 110, 2, cos);
      expect(lr).toBeLessThanOrEqual(prev);
      prev = lr;
    }
  });
  it('no warmup starts at the peak; warmup covering the run stays at the peak', () => {
    expect(lrAt(0, 100, 0.5, { warmupSteps: 0, schedule: 'cosine' })).toBeCloseTo(0.5, 12);
    expect(lrAt(10, 10, 0.5, { warmupSteps: 10, schedule: 'cosine' })).toBe(0.5);
  });
  it('constant and step', () => {
    expect(lrAt(3, 100, 0.5, { warmupSteps: 0, schedule: 'constant' })).toBe(0.5);
    expect(lrAt(2, 100, 0.5, { warmupSteps: 4, schedule: 'constant' })).toBe(0.25);
    const step = { warmupSteps: 0, schedule: 'step' as const, milestones: [20, 30], gamma: 0.1 };
    expect(lrAt(19, 100, 0.5, step)).toBe(0.5);
    expect(lrAt(20, 100, 0.5, step)).toBeCloseTo(0.05, 12);
    expect(lrAt(30, 100, 0.5, step)).toBeCloseTo(0.005, 12);
    expect(lrAt(99, 100, 0.5, step)).toBeCloseTo(0.005, 12);
  });
});

describe('momentumAt (BYOL / MoCo v3 cosine)', () => {
  it('goes from base to final along a half cosine', () => {
    expect(momentumAt(0, 100, 0.99)).toBeCloseTo(0.99, 12);
    expect(momentumAt(50, 100, 0.99)).toBeCloseTo(0.995, 12);
    // 1 - 0.01 * (cos(pi/4) + 1)/2 = 1 - 0.01 * 0.8535533906
    expect(momentumAt(25, 100, 0.99)).toBeCloseTo(0.991464466094, 11);
    expect(momentumAt(100, 100, 0.99)).toBeCloseTo(1, 12);
    expect(momentumAt(200, 100, 0.99)).toBeCloseTo(1, 12);
    expect(momentumAt(50, 100, 0.99, 0.999)).toBeCloseTo(0.9945, 12);
  });
});

describe('lrScheduleFor (recipe section -> per-step lr)', () => {
  const cfg: OptimConfig = {
    name: 'sgd', lr: 0.3, lr_scaling: 'linear', momentum: 0.9, weight_decay: 1e-6, nesterov: false,
    trust_coefficient: 0.001, betas: [0.9, 0.999], eps: 1e-8, warmup_epochs: 1, schedule: 'cosine',
    min_lr: 0, milestones: [], gamma: 0.1,
  };
  it('scales the lr and converts epochs to steps', () => {
    // batch 512: peak 0.6; 10 steps/epoch: warmup 10 steps; cosine over the other 90.
    const lr = lrScheduleFor(cfg, { batchSize: 512, stepsPerEpoch: 10, totalSteps: 100 });
    expect(lr(0)).toBe(0);
    expect(lr(5)).toBeCloseTo(0.3, 12);
    expect(lr(10)).toBeCloseTo(0.6, 12);
    expect(lr(55)).toBeCloseTo(0.3, 12);
    expect(lr(100)).toBeCloseTo(0, 12);
    const stepped = lrScheduleFor(
      { ...cfg, warmup_epochs: 0.5, schedule: 'step', milestones: [6, 8], lr_scaling: 'none' },
      { batchSize: 512, stepsPerEpoch: 10, totalSteps: 100 },
    );
    expect(stepped(4)).toBeCloseTo(0.3 * 4 / 5, 12);
    expect(stepped(59)).toBeCloseTo(0.3, 12);
    expect(stepped(60)).toBeCloseTo(0.03, 12);
    expect(stepped(80)).toBeCloseTo(0.003, 12);
  });
  it('rejects warmup longer than the run and a floor above the peak', () => {
    const ctx = { batchSize: 256, stepsPerEpoch: 10, totalSteps: 20 };
    for (const bad of [{ warmup_epochs: 3 }, { min_lr: 1 }]) {
      let err: unknown;
      try { lrScheduleFor({ ...cfg, ...bad }, ctx); } catch (e) { err = e; }
      expect(isUserError(err)).toBe(true);
      expect(String(err)).toContain(`optim.${Object.keys(bad)[0]}`);
    }
  });
});
