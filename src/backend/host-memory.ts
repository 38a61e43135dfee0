// Direct access to tensor storage on host-memory backends (tfjs 'cpu' and the
// native backend built on its class), for code that updates small or
// elementwise state in place of a chain of tfjs kernels: the optimizers' host
// loops and the batch-norm running statistics.
import * as tf from '@tensorflow/tfjs';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { nativeActive, nativeBackend } from './native.ts';

/**
 * The values of a float32 tensor. Read only, and only until the tensor is disposed or
 * reassigned: on host-memory backends this is the tensor's own storage, taken from the
 * backend without dataSync(), which would mark the array as escaped and keep the native
 * backend from recycling it (a fresh 44 MB of gradients and weights a step on ResNet-18).
 */
export function read(t: tf.Tensor): Float32Array {
  if (t.dtype !== 'float32') throw new Error(`expected a float32 tensor, got ${t.dtype}`);
  const stored = (tf.backend() as Partial<MathBackendCPU>).data?.get(t.dataId)?.values;
  return stored instanceof Float32Array && stored.length === t.size ? stored : (t.dataSync() as Float32Array);
}

/** An array for a parameter's or slot's next value: recycled from the native backend's pool when it is active. */
export function alloc(n: number): Float32Array {
  const pool = nativeActive() ? nativeBackend()?.pool : undefined;
  return pool ? pool.alloc(n) : new Float32Array(n);
}

/** Replaces a variable's value with `data` (which the variable then owns; do not touch it again). */
export function write(v: tf.Variable, data: Float32Array): void {
  const t = tf.tensor(data, v.shape, 'float32');
  v.assign(t);
  t.dispose();
}
