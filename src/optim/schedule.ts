// Learning-rate and momentum schedules. Pure functions of the step number, so a
// resumed run gets exactly the values it would have had (nothing to checkpoint).
import type { OptimConfig } from '../recipe/sections/optim.ts';
import { UserError } from '../util/errors.ts';

/**
 * The learning rate for a batch size, from a base lr.
 * - linear: baseLr * batch / 256 (Goyal et al.; SimCLR/MoCo's "lr 0.3 x batch/256").
 * - sqrt:   baseLr * sqrt(batch)  (the SimCLR paper's form, e.g. 0.075 * sqrt(4096);
 *           note there is no /256 here, so the base lr means something else than with linear).
 * - none:   baseLr.
 */
export function scaledLr(baseLr: number, batchSize: number, rule: 'linear' | 'sqrt' | 'none'): number {
  switch (rule) {
    case 'linear': return (baseLr * batchSize) / 256;
    case 'sqrt': return baseLr * Math.sqrt(batchSize);
    case 'none': return baseLr;
  }
}

export interface LrOptions {
  warmupSteps: number;
  schedule: 'cosine' | 'constant' | 'step';
  /** Floor for cosine (reached at the last step). Default 0. */
  minLr?: number;
  /** For 'step': steps at which lr is multiplied by gamma. */
  milestones?: number[];
  /** For 'step', default 0.1. */
  gamma?: number;
}

/**
 * The lr to use for the update numbered `step` (0-based: the number of updates already done).
 * Warmup is linear from 0, as in SimCLR: lr = peak * step / warmupSteps for step < warmupSteps
 * (so the very first update has lr 0). After warmup:
 * - cosine: minLr + (peak - minLr) * (1 + cos(pi * s / S)) / 2, s = step - warmup,
 *   S = totalSteps - warmup (SimCLR's cosine_decay after warmup; s is clamped to S);
 * - constant: peak;
 * - step: peak * gamma^(number of milestones <= step) (torch MultiStepLR).
 */
export function lrAt(step: number, totalSteps: number, peakLr: number, opts: LrOptions): number {
  const { warmupSteps } = opts;
  if (step < warmupSteps) return (peakLr * step) / warmupSteps;
  switch (opts.schedule) {
    case 'constant':
      return peakLr;
    case 'step': {
      const passed = (opts.milestones ?? []).filter((m) => m <= step).length;
      return peakLr * (opts.gamma ?? 0.1) ** passed;
    }
    case 'cosine': {
      const minLr = opts.minLr ?? 0;
      const span = totalSteps - warmupSteps;
      if (span <= 0) return peakLr;
      const s = Math.min(step - warmupSteps, span);
      return minLr + ((peakLr - minLr) * (1 + Math.cos((Math.PI * s) / span))) / 2;
    }
  }
}

/**
 * Cosine schedule for the EMA momentum of a key / target encoder (BYOL, MoCo v3):
 * m = final - (final - base) * (cos(pi * step / total) + 1) / 2, going from `base` at step 0
 * to `final` at `total` (held there after).
 */
export function momentumAt(step: number, totalSteps: number, base: number, final = 1): number {
  if (totalSteps <= 0) return base;
  const s = Math.min(Math.max(step, 0), totalSteps);
  return final - ((final - base) * (Math.cos((Math.PI * s) / totalSteps) + 1)) / 2;
}

export interface LrScheduleContext {
  batchSize: number;
  stepsPerEpoch: number;
  totalSteps: number;
}

/**
 * The per-step lr function a recipe's `optim` section describes: base lr scaled by the batch
 * size, warmup and milestones converted from epochs to steps (rounded, as SimCLR does).
 */
export function lrScheduleFor(cfg: OptimConfig, ctx: LrScheduleContext): (step: number) => number {
  if (!(ctx.stepsPerEpoch > 0)) throw new Error(`lrScheduleFor: stepsPerEpoch must be > 0, got ${ctx.stepsPerEpoch}`);
  const peak = scaledLr(cfg.lr, ctx.batchSize, cfg.lr_scaling);
  const warmupSteps = Math.round(cfg.warmup_epochs * ctx.stepsPerEpoch);
  if (warmupSteps > ctx.totalSteps) {
    throw new UserError(
      `optim.warmup_epochs: ${cfg.warmup_epochs} epochs (${warmupSteps} steps) is longer than the whole run (${ctx.totalSteps} steps)`,
    );
  }
  if (cfg.min_lr > peak && cfg.schedule === 'cosine') {
    throw new UserError(`optim.min_lr: ${cfg.min_lr} is above the scaled peak lr ${peak}; use a smaller min_lr`);
  }
  const opts: LrOptions = {
    warmupSteps,
    schedule: cfg.schedule,
    minLr: cfg.min_lr,
    milestones: cfg.milestones.map((e) => Math.round(e * ctx.stepsPerEpoch)),
    gamma: cfg.gamma,
  };
  return (step) => lrAt(step, ctx.totalSteps, peak, opts);
}
