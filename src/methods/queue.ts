// MoCo's dictionary: a FIFO queue of the K most recent keys, kept as a ring
// buffer (a [K, d] variable and a write pointer). Both are tf.Variables so a
// checkpoint holds them and a resumed run continues with the very same negatives.
import * as tf from '@tensorflow/tfjs';
import type { NamedVariable } from '../models/module.ts';
import { l2Normalize } from '../losses/ntxent.ts';
import type { Rng } from '../util/rng.ts';

export class KeyQueue {
  readonly keys: NamedVariable;
  /** Row the next key goes to; int32 scalar. */
  readonly pointer: NamedVariable;
  /** position()'s host copy of the pointer, and the pointer's dataId it was taken from. */
  private mirror = 0;
  private mirrorOf: object | undefined;

  /** Starts full of random unit vectors, as the official code does (they are all pushed out after K keys). */
  constructor(readonly name: string, readonly size: number, readonly dim: number, rng: Rng) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`KeyQueue: size must be a positive integer, got ${size}`);
    const init = tf.tidy(() => l2Normalize(tf.randomNormal([size, dim], 0, 1, 'float32', rng.seed()) as tf.Tensor2D));
    this.keys = { name: `${name}/keys`, kind: 'weight', variable: tf.variable(init, false) };
    init.dispose();
    const zero = tf.scalar(0, 'int32');
    this.pointer = { name: `${name}/pointer`, kind: 'weight', variable: tf.variable(zero, false) };
    zero.dispose(); // the variable holds its own reference to the value
  }

  /** The negatives: every key in the queue, [K, d]. Oldest/newest order does not matter to the loss. */
  negatives(): tf.Tensor2D { return this.keys.variable as tf.Tensor2D; }

  /**
   * The pointer as a number, from a host mirror: reading the variable back every step
   * would stall a GPU backend (and webgpu in Node cannot read synchronously at all). The
   * mirror is re-read only when the variable was assigned from outside (a checkpoint restore),
   * which tfjs shows as a new dataId; such a value came from host memory, so reading it is cheap.
   */
  position(): number {
    const v = this.pointer.variable;
    if (v.dataId !== this.mirrorOf) { this.mirror = v.dataSync()[0]; this.mirrorOf = v.dataId; }
    return this.mirror;
  }


  /** Writes `keys` [n, d] over the n oldest entries, wrapping around the end, and advances the pointer. */
  enqueue(keys: tf.Tensor2D): void {
    const [n, d] = keys.shape;
    const k = this.size;
    if (d !== this.dim) throw new Error(`KeyQueue.enqueue: keys have width ${d}, the queue ${this.dim}`);
    if (n > k) throw new Error(`KeyQueue.enqueue: ${n} keys do not fit a queue of ${k}`);
    if (n === 0) return;
    const p = this.position();
    const head = Math.min(n, k - p); // keys written at rows p..p+head-1
    const wrapped = n - head; //         and the rest at rows 0..wrapped-1
    tf.tidy(() => {
      const q = this.keys.variable;
      const parts: tf.Tensor[] = [];
      if (wrapped > 0) parts.push(keys.slice([head, 0], [wrapped, d]));
      if (p > wrapped) parts.push(q.slice([wrapped, 0], [p - wrapped, d]));
      parts.push(keys.slice([0, 0], [head, d]));
      if (p + head < k) parts.push(q.slice([p + head, 0], [k - p - head, d]));
      q.assign(parts.length === 1 ? parts[0] : tf.concat(parts, 0));
      this.pointer.variable.assign(tf.scalar((p + n) % k, 'int32'));
    });
    this.mirror = (p + n) % k;
    this.mirrorOf = this.pointer.variable.dataId;
  }

  /** For checkpoints: the keys and the pointer. */
  state(): NamedVariable[] { return [this.keys, this.pointer]; }

  dispose(): void { this.keys.variable.dispose(); this.pointer.variable.dispose(); }
}
