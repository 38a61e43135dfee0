// Single-device substitutes for MoCo's shuffle-BN. With one device a batch's
// statistics are shared by every query (and every key), so the network can find
// its positive through them ("BN leakage") instead of through the image. The
// MoCo CIFAR demo splits each batch into G groups normalized separately, and
// shuffles the key batch before the key encoder so that a query and its key are
// normalized with different samples.
import * as tf from '@tensorflow/tfjs';
import { BatchNorm, Sequential } from '../models/layers.ts';
import type { Module } from '../models/module.ts';
import type { Rng } from '../util/rng.ts';

/** Every BatchNorm inside a module (ResNet, Sequential heads, or a BatchNorm itself). */
export function batchNormsOf(m: Module): BatchNorm[] {
  if (m instanceof BatchNorm) return [m];
  if (m instanceof Sequential) return m.layers.flatMap(batchNormsOf);
  const withBn = m as Module & { batchNorms?: () => BatchNorm[] };
  return typeof withBn.batchNorms === 'function' ? withBn.batchNorms() : [];
}

/** Sets the number of batch-norm groups in training mode (1 = ordinary BN). Eval mode is unaffected. */
export function setBatchNormSplits(modules: Module[], groups: number): void {
  for (const m of modules) for (const bn of batchNormsOf(m)) bn.groups = groups;
}

export interface Shuffle { perm: tf.Tensor1D; inverse: tf.Tensor1D }

/** A random permutation of n rows and its inverse, as int32 index tensors for tf.gather. */
export function batchShuffle(n: number, rng: Rng): Shuffle {
  const perm = rng.shuffle(Int32Array.from({ length: n }, (_, i) => i)) as Int32Array;
  const inverse = new Int32Array(n);
  perm.forEach((p, i) => { inverse[p] = i; });
  return { perm: tf.tensor1d(perm, 'int32'), inverse: tf.tensor1d(inverse, 'int32') };
}
