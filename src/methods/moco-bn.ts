// Single-device substitutes for MoCo's shuffle-BN. With one device a batch's
// statistics are shared by every query (and every key), so the network can find
// its positive through them ("BN leakage") instead of through the image. The
// MoCo CIFAR demo splits each batch into G groups normalized separately, and
// shuffles the key batch before the key encoder so that a query and its key are
// normalized with different samples.
import * as tf from '@tensorflow/tfjs';
import { buildMlpHead } from '../models/heads.ts';
import { BatchNorm, Sequential } from '../models/layers.ts';
import type { Module, NamedVariable } from '../models/module.ts';
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

/**
 * Batch norm with no learned scale or shift, on the head's output before the
 * L2 normalization (MoCo v3's projector ends so). A random-init encoder maps
 * every image to nearly the same direction (mean cosine ~0.9 on MNIST); queries,
 * keys and queued negatives are then almost equal, the InfoNCE gradient nearly
 * vanishes and a short run barely leaves that plateau. Centring the embeddings
 * over the batch removes the shared direction from the first step.
 */
export class OutputNorm implements Module {
  readonly bn: BatchNorm;
  constructor(name: string, dim: number) {
    this.bn = new BatchNorm(name, dim);
    // Fixed at 1 and 0: kept as buffers (checkpointed, disposed) but never trained.
    this.bn.gamma.variable.trainable = false;
    this.bn.beta.variable.trainable = false;
  }
  apply(x: tf.Tensor, training: boolean): tf.Tensor { return this.bn.apply(x, training); }
  params(): NamedVariable[] { return []; }
  buffers(): NamedVariable[] { return [this.bn.gamma, this.bn.beta, ...this.bn.buffers()]; }
  batchNorms(): BatchNorm[] { return [this.bn]; }
}

/** An MLP head of these widths, then (outputBatchNorm) an OutputNorm named `${name}/out_bn`: MoCo's and SimSiam's projectors. */
export function buildNormedHead(name: string, dims: number[], batchNorm: boolean, outputBatchNorm: boolean, rng: Rng): Module {
  const mlp = buildMlpHead(name, { dims, batchNorm }, rng);
  return outputBatchNorm ? new Sequential([mlp, new OutputNorm(`${name}/out_bn`, dims[dims.length - 1])]) : mlp;
}
