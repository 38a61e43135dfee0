// Named optimizer state (momentum buffers, Adam moments, step counters) kept as
// tf.Variables so a checkpoint can save them and a resume can put them back bit
// for bit. Shared by every optimizer so the save/restore rules live in one place.
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../util/errors.ts';
import type { OptimizerSlot } from './types.ts';

export class SlotStore {
  private readonly byName = new Map<string, tf.Variable>();

  /** A zero-filled slot shaped like `like`. Names must be unique within the optimizer. */
  zerosLike(name: string, like: tf.Tensor): tf.Variable {
    return this.add(name, tf.zeros(like.shape, 'float32'));
  }

  /** A float32 vector slot with the given initial values, e.g. step counters. */
  fromValues(name: string, values: Float32Array): tf.Variable {
    return this.add(name, tf.tensor1d(values.slice(), 'float32'));
  }

  list(): OptimizerSlot[] {
    return [...this.byName].map(([name, tensor]) => ({ name, tensor }));
  }

  load(saved: Map<string, Float32Array | tf.Tensor>): void {
    // Check everything before assigning anything, so a bad checkpoint leaves the state untouched.
    const values: [tf.Variable, Float32Array | tf.Tensor][] = [];
    for (const [name, v] of this.byName) {
      const s = saved.get(name);
      if (s === undefined) {
        throw new UserError(`checkpoint lacks optimizer slot '${name}' (was it written by another optimizer or model?)`);
      }
      const size = s instanceof Float32Array ? s.length : s.size;
      if (size !== v.size || (!(s instanceof Float32Array) && !sameShape(s.shape, v.shape))) {
        const got = s instanceof Float32Array ? `${size} values` : `shape [${s.shape}]`;
        throw new UserError(`checkpoint optimizer slot '${name}' has ${got}, expected shape [${v.shape}]`);
      }
      values.push([v, s]);
    }
    tf.tidy(() => {
      for (const [v, s] of values) {
        // slice(): the cpu backend keeps a typed array as the tensor's storage, and the caller's
        // array must not alias optimizer state.
        v.assign(s instanceof Float32Array ? tf.tensor(s.slice(), v.shape, 'float32') : tf.cast(s, 'float32'));
      }
    });
  }

  dispose(): void {
    for (const v of this.byName.values()) v.dispose();
    this.byName.clear();
  }

  private add(name: string, init: tf.Tensor): tf.Variable {
    if (this.byName.has(name)) throw new Error(`duplicate optimizer slot '${name}'`);
    // trainable=false: slots must never show up in tf.variableGrads' default variable list.
    // No tfjs name: those are engine-global, and two optimizers over one model would collide.
    const v = tf.variable(init, false);
    init.dispose();
    this.byName.set(name, v);
    return v;
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
