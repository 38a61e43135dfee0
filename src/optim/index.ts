// Optimizers for selfsup: pick one from the recipe's `optim` section.
import type { NamedVariable } from '../models/module.ts';
import { excludesBnBias, type OptimConfig } from '../recipe/sections/optim.ts';
import { UserError } from '../util/errors.ts';
import { Adam } from './adam.ts';
import { Lars } from './lars.ts';
import { Sgd } from './sgd.ts';
import type { MathMode } from './host.ts';
import type { Optimizer } from './types.ts';

export type { Optimizer, OptimizerSlot } from './types.ts';
export { Sgd, type SgdOptions } from './sgd.ts';
export { Adam, type AdamOptions, ADAM_STEP_SLOT } from './adam.ts';
export { Lars, type LarsOptions } from './lars.ts';
export { useHostMath, type MathMode } from './host.ts';
export { scaledLr, lrAt, momentumAt, lrScheduleFor, type LrOptions, type LrScheduleContext } from './schedule.ts';

export interface CreateOptimizerOptions {
  /** Host loops vs plain tfjs ops; 'auto' (default) picks by backend, see host.ts. */
  math?: MathMode;
}

export function createOptimizer(cfg: OptimConfig, params: NamedVariable[], options: CreateOptimizerOptions = {}): Optimizer {
  const excludeBnBias = excludesBnBias(cfg);
  const math = options.math ?? 'auto';
  switch (cfg.name) {
    case 'sgd':
      if (cfg.nesterov && cfg.momentum <= 0) {
        throw new UserError(`optim.nesterov: true needs optim.momentum > 0 (got ${cfg.momentum})`);
      }
      return new Sgd(params, {
        momentum: cfg.momentum, weightDecay: cfg.weight_decay, nesterov: cfg.nesterov, excludeBnBias, math,
      });
    case 'lars':
      return new Lars(params, {
        momentum: cfg.momentum, weightDecay: cfg.weight_decay, trustCoefficient: cfg.trust_coefficient,
        nesterov: cfg.nesterov, excludeBnBias, math,
      });
    case 'adam':
    case 'adamw':
      return new Adam(params, {
        betas: cfg.betas, eps: cfg.eps, weightDecay: cfg.weight_decay, decoupled: cfg.name === 'adamw', excludeBnBias, math,
      });
    default:
      throw new UserError(`optim.name: '${String((cfg as { name: unknown }).name)}' is not one of sgd, lars, adam, adamw`);
  }
}
