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
import { alloc, type MathMode, nativeUpdates, norm, read, useHostMath, write } from './host.ts';
import { SlotStore } from './slots.ts';
import type { Optimizer, OptimizerSlot } from './types.ts';

export interface LarsOptions {
  momentum: number;
  weightDecay: number;
  /** eta; SimCLR uses 0.001. */
  trustCoefficient: number;
  nesterov: boolean;
  excludeBnBias: boolean;
  /** Where the arithmetic runs (see host.ts); default 'auto'. */
  math?: MathMode;
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
    const host = useHostMath(this.opts.math ?? 'auto');
    for (const [name, g] of grads) {
      const lp = this.byName.get(name)!;
      if (host) this.hostUpdate(lp, g, lr);
      else tf.tidy(() => this.tensorUpdate(lp, g, lr));
    }
  }

  private tensorUpdate({ p, adapt, velocity }: LarsParam, g: tf.Tensor, lr: number): void {
    const { momentum, weightDecay, trustCoefficient, nesterov } = this.opts;
    const w = p.variable;
    const mu = tf.scalar(momentum);
    let scaledLr = tf.scalar(lr);
    let d = g;
    if (adapt) {
      if (weightDecay !== 0) d = tf.add(g, tf.mul(w, tf.scalar(weightDecay)));
      // On the device: a read-back per parameter would stall every step. Not tf.norm,
      // whose pow(abs(x), 2) is several times slower on the cpu and wasm backends.
      const wNorm = tf.sqrt(tf.sum(tf.square(w)));
      const gNorm = tf.sqrt(tf.sum(tf.square(d)));
      const zero = tf.scalar(0);
      const ratio = tf.where(
        tf.logicalAnd(tf.greater(wNorm, zero), tf.greater(gNorm, zero)),
        tf.div(tf.mul(tf.scalar(trustCoefficient), wNorm), gNorm),
        tf.scalar(1),
      );
      scaledLr = tf.mul(scaledLr, ratio);
    }
    const step = tf.mul(d, scaledLr);
    const v = tf.add(tf.mul(velocity, mu), step);
    velocity.assign(v);
    const update = nesterov ? tf.add(tf.mul(v, mu), step) : v;
    w.assign(tf.sub(w, update));
  }

  /** Same arithmetic as tensorUpdate, element by element (see host.ts). */
  private hostUpdate({ p, adapt, velocity }: LarsParam, grad: tf.Tensor, lrIn: number): void {
    const f = Math.fround;
    const { nesterov } = this.opts;
    const [mu, wd, eta, lr] = [f(this.opts.momentum), f(this.opts.weightDecay), f(this.opts.trustCoefficient), f(lrIn)];
    const decay = adapt && this.opts.weightDecay !== 0;
    const [w, g, vOld] = [read(p.variable), read(grad), read(velocity)];
    const n = w.length;
    const wNew = alloc(n);
    const vNew = alloc(n);
    const native = nativeUpdates();
    if (native) native.larsUpdate(w, g, vOld, wNew, vNew, n, mu, wd, eta, lr, adapt, decay, nesterov);
    else this.hostLoop(w, g, vOld, wNew, vNew, { mu, wd, eta, lr, adapt, decay });
    write(velocity, vNew);
    write(p.variable, wNew);
  }

  /** The element loops of hostUpdate, where the addon's larsUpdate is not available. */
  private hostLoop(w: Float32Array, g: Float32Array, vOld: Float32Array, wNew: Float32Array, vNew: Float32Array,
    c: { mu: number; wd: number; eta: number; lr: number; adapt: boolean; decay: boolean }): void {
    const f = Math.fround;
    const { nesterov } = this.opts;
    const { mu, wd, eta, lr, adapt, decay } = c;
    const n = w.length;
    let scaledLr = lr;
    if (adapt) {
      let gSq = 0;
      for (let i = 0; i < n; i++) {
        const d = decay ? f(g[i] + f(w[i] * wd)) : g[i];
        gSq += f(d * d);
      }
      const wNorm = norm(w);
      const gNorm = f(Math.sqrt(f(gSq)));
      const ratio = wNorm > 0 && gNorm > 0 ? f(f(eta * wNorm) / gNorm) : 1;
      scaledLr = f(lr * ratio);
    }
    for (let i = 0; i < n; i++) {
      const d = decay ? f(g[i] + f(w[i] * wd)) : g[i];
      const step = f(d * scaledLr);
      const v = f(f(vOld[i] * mu) + step);
      vNew[i] = v;
      wNew[i] = w[i] - (nesterov ? f(f(v * mu) + step) : v);
    }
  }

  slots(): OptimizerSlot[] { return this.store.list(); }
  loadSlots(slots: Map<string, Float32Array | tf.Tensor>): void { this.store.load(slots); }
  dispose(): void { this.store.dispose(); }
}
