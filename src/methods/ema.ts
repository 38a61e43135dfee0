// Exponential moving average of one set of weights into another: the momentum
// (key / target) encoder of MoCo, and of BYOL-style methods. Like lightly's
// `update_momentum`, it only touches parameters: the momentum encoder's
// batch-norm statistics are its own, updated by its own forward passes.
import * as tf from '@tensorflow/tfjs';
import type { Module, NamedVariable } from '../models/module.ts';

/** target <- m * target + (1 - m) * source, pairwise and in place. m = 1 freezes the target. */
export function emaUpdate(target: readonly NamedVariable[], source: readonly NamedVariable[], momentum: number): void {
  if (!(momentum >= 0 && momentum <= 1)) throw new Error(`emaUpdate: momentum must be in [0, 1], got ${momentum}`);
  if (target.length !== source.length) throw new Error(`emaUpdate: ${target.length} target vs ${source.length} source variables`);
  if (momentum === 1) return;
  tf.tidy(() => {
    for (let i = 0; i < target.length; i++) {
      const t = target[i].variable;
      const s = source[i].variable;
      t.assign(tf.add(tf.mul(t, momentum), tf.mul(s, 1 - momentum)));
    }
  });
}

/**
 * Pairs a momentum copy's parameters with the originals', checking that the copy
 * is named `${prefix}${original name}` with the same shape: a mismatch is a
 * construction bug, better caught at build than as a silently wrong average.
 */
export function pairByName(copy: readonly NamedVariable[], original: readonly NamedVariable[], prefix: string): void {
  if (copy.length !== original.length) throw new Error(`momentum encoder: ${copy.length} vs ${original.length} parameters`);
  copy.forEach((c, i) => {
    const o = original[i];
    if (c.name !== `${prefix}${o.name}`) throw new Error(`momentum encoder: '${c.name}' does not pair with '${o.name}'`);
    if (c.variable.shape.join() !== o.variable.shape.join()) throw new Error(`momentum encoder: '${c.name}' has shape [${c.variable.shape}], '${o.name}' [${o.variable.shape}]`);
  });
}

/** Marks a momentum encoder's variables as never trained, so no gradient can reach them even by accident. */
export function freeze(m: Module): void {
  for (const v of [...m.params(), ...m.buffers()]) v.variable.trainable = false;
}
