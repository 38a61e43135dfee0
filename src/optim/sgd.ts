// SGD with momentum, as torch.optim.SGD (dampening 0): weight decay is coupled
// (added to the gradient), which is what the SimCLR/MoCo SGD recipes assume.
//   g' = g + wd*w;  v = mu*v + g';  w -= lr * (nesterov ? g' + mu*v : v)
import * as tf from '@tensorflow/tfjs';
import type { NamedVariable } from '../models/module.ts';
import { checkGradKeys, isExcluded } from './decay.ts';
import { SlotStore } from './slots.ts';
import type { Optimizer, OptimizerSlot } from './types.ts';

export interface SgdOptions {
  momentum: number;
  weightDecay: number;
  nesterov: boolean;
  /** Leave bias / batch-norm parameters out of weight decay. */
  excludeBnBias: boolean;
}

interface SgdParam {
  p: NamedVariable;
  wd: number;
  /** Absent when momentum is 0 (PyTorch keeps no buffer then either). */
  velocity?: tf.Variable;
}

export class Sgd implements Optimizer {
  readonly kind = 'sgd';
  private readonly store = new SlotStore();
  private readonly byName = new Map<string, SgdParam>();

  constructor(params: NamedVariable[], private readonly opts: SgdOptions) {
    if (opts.nesterov && opts.momentum <= 0) throw new Error('SGD: nesterov needs momentum > 0');
    for (const p of params) {
      this.byName.set(p.name, {
        p,
        wd: isExcluded(p, opts.excludeBnBias) ? 0 : opts.weightDecay,
        velocity: opts.momentum > 0 ? this.store.zerosLike(`${p.name}/momentum`, p.variable) : undefined,
      });
    }
  }

  step(grads: Map<string, tf.Tensor>, lr: number): void {
    checkGradKeys(grads, this.byName);
    const { momentum, nesterov } = this.opts;
    tf.tidy(() => {
      const lrT = tf.scalar(lr);
      const muT = tf.scalar(momentum);
      for (const [name, g] of grads) {
        const { p, wd, velocity } = this.byName.get(name)!;
        const w = p.variable;
        const d = wd !== 0 ? tf.add(g, tf.mul(w, tf.scalar(wd))) : g;
        let update = d;
        if (velocity) {
          const v = tf.add(tf.mul(velocity, muT), d);
          velocity.assign(v);
          update = nesterov ? tf.add(d, tf.mul(v, muT)) : v;
        }
        w.assign(tf.sub(w, tf.mul(update, lrT)));
      }
    });
  }

  slots(): OptimizerSlot[] { return this.store.list(); }
  loadSlots(slots: Map<string, Float32Array | tf.Tensor>): void { this.store.load(slots); }
  dispose(): void { this.store.dispose(); }
}
