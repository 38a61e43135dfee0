// Shared by the optimizer tests: tiny named parameters and float64 reference
// implementations written straight from the PyTorch / SimCLR pseudo-code.
import * as tf from '@tensorflow/tfjs';
import type { NamedVariable, ParamKind } from '../src/models/module.ts';

export function param(name: string, kind: ParamKind, values: number[] | Float32Array, shape?: number[]): NamedVariable {
  return { name, kind, variable: tf.variable(tf.tensor(values, shape ?? [values.length], 'float32'), true) };
}

export function gradMap(entries: [string, number[] | Float32Array, number[]?][]): Map<string, tf.Tensor> {
  return new Map(entries.map(([n, v, s]) => [n, tf.tensor(v, s ?? [v.length], 'float32')]));
}

export function disposeAll(params: NamedVariable[], grads?: Map<string, tf.Tensor>): void {
  for (const p of params) p.variable.dispose();
  for (const g of grads?.values() ?? []) g.dispose();
}

export function values(p: NamedVariable): number[] {
  return Array.from(p.variable.dataSync());
}

export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol = 1e-6, what = ''): void {
  if (got.length !== want.length) throw new Error(`length ${got.length} != ${want.length}`);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    if (!(err <= tol * Math.max(1, Math.abs(want[i])))) {
      throw new Error(`${what} index ${i}: got ${got[i]}, want ${want[i]} (err ${err})`);
    }
  }
}

// ---- float64 references: one parameter tensor as a plain array ----

export interface RefParam { w: number[]; kind: ParamKind; state: number[][]; t: number }

export function refSgd(p: RefParam, g: number[], lr: number, mu: number, wd: number, nesterov: boolean): void {
  if (p.state.length === 0) p.state.push(p.w.map(() => 0));
  const v = p.state[0];
  for (let i = 0; i < p.w.length; i++) {
    const d = g[i] + wd * p.w[i];
    v[i] = mu * v[i] + d;
    p.w[i] -= lr * (nesterov ? d + mu * v[i] : v[i]);
  }
}

export function refAdam(
  p: RefParam, g: number[], lr: number, b1: number, b2: number, eps: number, wd: number, decoupled: boolean,
  t = p.t + 1,
): void {
  if (p.state.length === 0) p.state.push(p.w.map(() => 0), p.w.map(() => 0));
  const [m, v] = p.state;
  p.t = t;
  const bc1 = 1 - b1 ** p.t;
  const bc2 = 1 - b2 ** p.t;
  for (let i = 0; i < p.w.length; i++) {
    if (decoupled) p.w[i] *= 1 - lr * wd;
    const d = decoupled ? g[i] : g[i] + wd * p.w[i];
    m[i] = b1 * m[i] + (1 - b1) * d;
    v[i] = b2 * v[i] + (1 - b2) * d * d;
    p.w[i] -= (lr / bc1) * (m[i] / (Math.sqrt(v[i]) / Math.sqrt(bc2) + eps));
  }
}

export function refLars(p: RefParam, g: number[], lr: number, mu: number, wd: number, eta: number, adapt: boolean): void {
  if (p.state.length === 0) p.state.push(p.w.map(() => 0));
  const v = p.state[0];
  const d = g.map((x, i) => x + (adapt ? wd * p.w[i] : 0));
  let ratio = 1;
  if (adapt) {
    const wn = Math.hypot(...p.w);
    const gn = Math.hypot(...d);
    if (wn > 0 && gn > 0) ratio = (eta * wn) / gn;
  }
  for (let i = 0; i < p.w.length; i++) {
    v[i] = mu * v[i] + lr * ratio * d[i];
    p.w[i] -= v[i];
  }
}
