// Adam and AdamW, as torch.optim.Adam / AdamW (no amsgrad).
//   Adam:  g' = g + wd*w                      (decay coupled into the gradient)
//   AdamW: w  = w * (1 - lr*wd)               (decay decoupled, applied before the step)
//   m = b1*m + (1-b1)*g';  v = b2*v + (1-b2)*g'^2
//   w -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
// Step counts are per parameter, as in PyTorch (a parameter without a gradient in
// some step keeps its own count); they live together in one slot vector.
import * as tf from '@tensorflow/tfjs';
import type { NamedVariable } from '../models/module.ts';
import { checkGradKeys, isExcluded } from './decay.ts';
import { SlotStore } from './slots.ts';
import type { Optimizer, OptimizerSlot } from './types.ts';

export interface AdamOptions {
  betas: [number, number];
  eps: number;
  weightDecay: number;
  /** true = AdamW (decoupled decay), false = Adam (L2 added to the gradient). */
  decoupled: boolean;
  excludeBnBias: boolean;
}

interface AdamParam {
  p: NamedVariable;
  /** Index into the step-count slot. */
  index: number;
  wd: number;
  m: tf.Variable;
  v: tf.Variable;
}

/** Slot holding the per-parameter step counts, in parameter order (float32: exact up to 2^24 steps). */
export const ADAM_STEP_SLOT = 'adam/step';

export class Adam implements Optimizer {
  readonly kind: 'adam' | 'adamw';
  private readonly store = new SlotStore();
  private readonly byName = new Map<string, AdamParam>();
  private readonly stepSlot: tf.Variable;
  /** Mirror of stepSlot, so bias correction needs no read-back from the device. */
  private readonly counts: Float32Array;

  constructor(params: NamedVariable[], private readonly opts: AdamOptions) {
    this.kind = opts.decoupled ? 'adamw' : 'adam';
    this.counts = new Float32Array(params.length);
    this.stepSlot = this.store.fromValues(ADAM_STEP_SLOT, this.counts);
    for (const [index, p] of params.entries()) {
      this.byName.set(p.name, {
        p,
        index,
        wd: isExcluded(p, opts.excludeBnBias) ? 0 : opts.weightDecay,
        m: this.store.zerosLike(`${p.name}/exp_avg`, p.variable),
        v: this.store.zerosLike(`${p.name}/exp_avg_sq`, p.variable),
      });
    }
  }

  step(grads: Map<string, tf.Tensor>, lr: number): void {
    checkGradKeys(grads, this.byName);
    const [b1, b2] = this.opts.betas;
    tf.tidy(() => {
      const b1T = tf.scalar(b1);
      const b2T = tf.scalar(b2);
      const oneMinusB1 = tf.scalar(1 - b1);
      const oneMinusB2 = tf.scalar(1 - b2);
      const eps = tf.scalar(this.opts.eps);
      for (const [name, g] of grads) {
        const { p, index, wd, m, v } = this.byName.get(name)!;
        const t = ++this.counts[index];
        const stepSize = tf.scalar(lr / (1 - b1 ** t));
        const sqrtBc2 = tf.scalar(Math.sqrt(1 - b2 ** t));
        let w: tf.Tensor = p.variable;
        let d = g;
        if (wd !== 0 && this.opts.decoupled) w = tf.mul(w, tf.scalar(1 - lr * wd));
        if (wd !== 0 && !this.opts.decoupled) d = tf.add(g, tf.mul(w, tf.scalar(wd)));
        const mNew = tf.add(tf.mul(m, b1T), tf.mul(d, oneMinusB1));
        const vNew = tf.add(tf.mul(v, b2T), tf.mul(tf.square(d), oneMinusB2));
        m.assign(mNew);
        v.assign(vNew);
        const denom = tf.add(tf.div(tf.sqrt(vNew), sqrtBc2), eps);
        p.variable.assign(tf.sub(w, tf.mul(tf.div(mNew, denom), stepSize)));
      }
      // slice(): the cpu backend would otherwise keep our array as the tensor's storage.
      this.stepSlot.assign(tf.tensor1d(this.counts.slice(), 'float32'));
    });
  }

  slots(): OptimizerSlot[] { return this.store.list(); }

  loadSlots(slots: Map<string, Float32Array | tf.Tensor>): void {
    this.store.load(slots);
    this.counts.set(this.stepSlot.dataSync());
  }

  dispose(): void { this.store.dispose(); }
}
