// LARS as in SimCLR's official implementation (tf2/lars_optimizer.py, classic
// momentum): the layer-wise trust ratio scales the learning rate per parameter,
// and the momentum buffer accumulates lr-scaled steps.
//   g' = g + wd*w                                   (decay only on 'weight' params)
//   r  = ||w|| > 0 && ||g'|| > 0 ? eta*||w||/||g'|| : 1   (only on 'weight' params, else 1)
//   v  = mu*v + lr*r*g';  w -= nesterov ? mu*v + lr*r*g' : v
// Biases and batch-norm parameters are excluded from both decay and adaptation
// (SimCLR's exclude_from_weight_decay / exclude_from_layer_adaptation), unless the
// recipe sets exclude_bn_bias: false.
import * as tf from '@tensorflow/tfjs';
import type { NamedVariable } from '../models/module.ts';
import { checkGradKeys, isExcluded } from './decay.ts';
import { SlotStore } from './slots.ts';
import type { Optimizer, OptimizerSlot } from './types.ts';

export interface LarsOptions {
  momentum: number;
  weightDecay: number;
  /** eta; SimCLR uses 0.001. */
  trustCoefficient: number;
  nesterov: boolean;
  excludeBnBias: boolean;
}

interface LarsParam {
  p: NamedVariable;
  /** Decay and adapt this parameter (false for excluded bias / bn). */
  adapt: boolean;
  velocity: tf.Variable;
}

export class Lars implements Optimizer {
  readonly kind = 'lars';
  private readonly store = new SlotStore();
  private readonly byName = new Map<string, LarsParam>();

  constructor(params: NamedVariable[], private readonly opts: LarsOptions) {
    for (const p of params) {
      this.byName.set(p.name, {
        p,
        adapt: !isExcluded(p, opts.excludeBnBias),
        velocity: this.store.zerosLike(`${p.name}/momentum`, p.variable),
      });
    }
  }

  step(grads: Map<string, tf.Tensor>, lr: number): void {
    checkGradKeys(grads, this.byName);
    const { momentum, weightDecay, trustCoefficient, nesterov } = this.opts;
    tf.tidy(() => {
      const lrT = tf.scalar(lr);
      const muT = tf.scalar(momentum);
      const wdT = tf.scalar(weightDecay);
      const etaT = tf.scalar(trustCoefficient);
      const one = tf.scalar(1);
      const zero = tf.scalar(0);
      for (const [name, g] of grads) {
        const { p, adapt, velocity } = this.byName.get(name)!;
        const w = p.variable;
        let scaledLr = lrT;
        let d = g;
        if (adapt) {
          if (weightDecay !== 0) d = tf.add(g, tf.mul(w, wdT));
          // Computed on the device: a read-back per parameter would stall every step.
          const wNorm = tf.norm(w);
          const gNorm = tf.norm(d);
          const ratio = tf.where(
            tf.logicalAnd(tf.greater(wNorm, zero), tf.greater(gNorm, zero)),
            tf.div(tf.mul(etaT, wNorm), gNorm),
            one,
          );
          scaledLr = tf.mul(lrT, ratio);
        }
        const step = tf.mul(d, scaledLr);
        const v = tf.add(tf.mul(velocity, muT), step);
        velocity.assign(v);
        const update = nesterov ? tf.add(tf.mul(v, muT), step) : v;
        w.assign(tf.sub(w, update));
      }
    });
  }

  slots(): OptimizerSlot[] { return this.store.list(); }
  loadSlots(slots: Map<string, Float32Array | tf.Tensor>): void { this.store.load(slots); }
  dispose(): void { this.store.dispose(); }
}
