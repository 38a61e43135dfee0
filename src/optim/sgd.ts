// SGD with momentum, as torch.optim.SGD (dampening 0): weight decay is coupled
// (added to the gradient), which is what the SimCLR/MoCo SGD recipes assume.
//   g' = g + wd*w;  v = mu*v + g';  w -= lr * (nesterov ? g' + mu*v : v)
import * as tf from '@tensorflow/tfjs';
import type { NamedVariable } from '../models/module.ts';
import { checkGradKeys, isExcluded } from './decay.ts';
import { alloc, type MathMode, nativeUpdates, read, useHostMath, write } from './host.ts';
import { SlotStore } from './slots.ts';
import type { Optimizer, OptimizerSlot } from './types.ts';

export interface SgdOptions {
  momentum: number;
  weightDecay: number;
  nesterov: boolean;
  /** Leave bias / batch-norm parameters out of weight decay. */
  excludeBnBias: boolean;
  /** Where the arithmetic runs (see host.ts); default 'auto'. */
  math?: MathMode;
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
    const host = useHostMath(this.opts.math ?? 'auto');
    for (const [name, g] of grads) {
      const sp = this.byName.get(name)!;
      if (host) this.hostUpdate(sp, g, lr);
      else tf.tidy(() => this.tensorUpdate(sp, g, lr));
    }
  }

  private tensorUpdate({ p, wd, velocity }: SgdParam, g: tf.Tensor, lr: number): void {
    const w = p.variable;
    const mu = tf.scalar(this.opts.momentum);
    const d = wd !== 0 ? tf.add(g, tf.mul(w, tf.scalar(wd))) : g;
    let update = d;
    if (velocity) {
      const v = tf.add(tf.mul(velocity, mu), d);
      velocity.assign(v);
      update = this.opts.nesterov ? tf.add(d, tf.mul(v, mu)) : v;
    }
    w.assign(tf.sub(w, tf.mul(update, tf.scalar(lr))));
  }

  /** Same arithmetic as tensorUpdate, element by element (see host.ts). */
  private hostUpdate({ p, wd, velocity }: SgdParam, grad: tf.Tensor, lrIn: number): void {
    const f = Math.fround;
    const [mu, wdF, lr, nesterov] = [f(this.opts.momentum), f(wd), f(lrIn), this.opts.nesterov];
    const w = read(p.variable);
    const g = read(grad);
    const vOld = velocity ? read(velocity) : undefined;
    const wNew = alloc(w.length);
    const vNew = vOld ? alloc(w.length) : undefined;
    const native = nativeUpdates();
    if (native) native.sgdUpdate(w, g, vOld ?? null, wNew, vNew ?? null, w.length, mu, wdF, lr, wd !== 0, nesterov);
    else for (let i = 0; i < w.length; i++) {
      const d = wd !== 0 ? f(g[i] + f(w[i] * wdF)) : g[i];
      let u = d;
      if (vOld && vNew) {
        const v = f(f(vOld[i] * mu) + d);
        vNew[i] = v;
        u = nesterov ? f(d + f(v * mu)) : v;
      }
      wNew[i] = w[i] - f(u * lr);
    }
    if (velocity && vNew) write(velocity, vNew);
    write(p.variable, wNew);
  }

  slots(): OptimizerSlot[] { return this.store.list(); }
  loadSlots(slots: Map<string, Float32Array | tf.Tensor>): void { this.store.load(slots); }
  dispose(): void { this.store.dispose(); }
}
