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
import { alloc, type MathMode, nativeUpdates, read, useHostMath, write } from './host.ts';
import { SlotStore } from './slots.ts';
import type { Optimizer, OptimizerSlot } from './types.ts';

export interface AdamOptions {
  betas: [number, number];
  eps: number;
  weightDecay: number;
  /** true = AdamW (decoupled decay), false = Adam (L2 added to the gradient). */
  decoupled: boolean;
  excludeBnBias: boolean;
  /** Where the arithmetic runs (see host.ts); default 'auto'. */
  math?: MathMode;
}

/** Per-parameter numbers of one step (the bias corrections depend on the parameter's step count). */
interface StepConstants { lr: number; stepSize: number; sqrtBc2: number }

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
    const host = useHostMath(this.opts.math ?? 'auto');
    for (const [name, g] of grads) {
      const ap = this.byName.get(name)!;
      const t = ++this.counts[ap.index];
      const c: StepConstants = { lr, stepSize: lr / (1 - this.opts.betas[0] ** t), sqrtBc2: Math.sqrt(1 - this.opts.betas[1] ** t) };
      if (host) this.hostUpdate(ap, g, c);
      else tf.tidy(() => this.tensorUpdate(ap, g, c));
    }
    tf.tidy(() => {
      // slice(): the cpu backend would otherwise keep our array as the tensor's storage.
      this.stepSlot.assign(tf.tensor1d(this.counts.slice(), 'float32'));
    });
  }

  private tensorUpdate({ p, wd, m, v }: AdamParam, g: tf.Tensor, c: StepConstants): void {
    const { betas: [b1, b2], eps, decoupled } = this.opts;
    let w: tf.Tensor = p.variable;
    let d = g;
    if (wd !== 0 && decoupled) w = tf.mul(w, tf.scalar(1 - c.lr * wd));
    if (wd !== 0 && !decoupled) d = tf.add(g, tf.mul(w, tf.scalar(wd)));
    const mNew = tf.add(tf.mul(m, tf.scalar(b1)), tf.mul(d, tf.scalar(1 - b1)));
    const vNew = tf.add(tf.mul(v, tf.scalar(b2)), tf.mul(tf.square(d), tf.scalar(1 - b2)));
    m.assign(mNew);
    v.assign(vNew);
    const denom = tf.add(tf.div(tf.sqrt(vNew), tf.scalar(c.sqrtBc2)), tf.scalar(eps));
    p.variable.assign(tf.sub(w, tf.mul(tf.div(mNew, denom), tf.scalar(c.stepSize))));
  }

  /** Same arithmetic as tensorUpdate, element by element (see host.ts). */
  private hostUpdate({ p, wd, m, v }: AdamParam, grad: tf.Tensor, c: StepConstants): void {
    const f = Math.fround;
    const { betas: [b1In, b2In], decoupled } = this.opts;
    const [b1, b2, omb1, omb2] = [f(b1In), f(b2In), f(1 - b1In), f(1 - b2In)];
    const [eps, sqrtBc2, stepSize] = [f(this.opts.eps), f(c.sqrtBc2), f(c.stepSize)];
    const shrink = f(1 - c.lr * wd);
    const wdF = f(wd);
    const coupled = wd !== 0 && !decoupled;
    const shrinks = wd !== 0 && decoupled;
    const [w, g, mOld, vOld] = [read(p.variable), read(grad), read(m), read(v)];
    const n = w.length;
    const [wNew, mNew, vNew] = [alloc(n), alloc(n), alloc(n)];
    const native = nativeUpdates();
    if (native) native.adamUpdate(w, g, mOld, vOld, wNew, mNew, vNew, n, b1, b2, omb1, omb2, eps, sqrtBc2, stepSize, shrink, wdF, coupled, shrinks);
    else for (let i = 0; i < n; i++) {
      const wi = shrinks ? f(w[i] * shrink) : w[i];
      const d = coupled ? f(g[i] + f(w[i] * wdF)) : g[i];
      const mi = f(f(mOld[i] * b1) + f(d * omb1));
      const vi = f(f(vOld[i] * b2) + f(f(d * d) * omb2));
      mNew[i] = mi;
      vNew[i] = vi;
      const denom = f(f(f(Math.sqrt(vi)) / sqrtBc2) + eps);
      wNew[i] = wi - f(f(mi / denom) * stepSize);
    }
    write(m, mNew);
    write(v, vNew);
    write(p.variable, wNew);
  }

  slots(): OptimizerSlot[] { return this.store.list(); }

  loadSlots(slots: Map<string, Float32Array | tf.Tensor>): void {
    this.store.load(slots);
    // From the saved values, not the device (no synchronous read-back on a GPU backend).
    const saved = slots.get(ADAM_STEP_SLOT);
    this.counts.set(saved instanceof Float32Array ? saved : (this.stepSlot.dataSync() as Float32Array));
  }

  dispose(): void { this.store.dispose(); }
}
