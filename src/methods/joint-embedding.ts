// Barlow Twins and VICReg: a joint-embedding method with neither negatives nor a
// predictor nor a momentum encoder. Both views go through one backbone and
// projector (each view on its own, as the papers' code does), and the loss
// itself keeps the embedding from collapsing by acting on its batch statistics:
// Barlow Twins decorrelates the dimensions through the cross-correlation matrix,
// VICReg keeps every dimension's variance up and their covariances down.
import * as tf from '@tensorflow/tfjs';
import { buildMlpHead } from '../models/heads.ts';
import { disposeModule, type Backbone, type Module, type NamedVariable } from '../models/module.ts';
import { UserError } from '../util/errors.ts';
import type { Rng } from '../util/rng.ts';
import type { Method } from './method.ts';

export interface JointEmbeddingOptions {
  /** Projector widths after the backbone (both papers: three layers, e.g. [hidden, hidden, out]). */
  headDims: number[];
  headBatchNorm: boolean;
  /** The loss of the two views' projections, [N, D] each, and its named parts (logged). */
  loss: (z1: tf.Tensor2D, z2: tf.Tensor2D) => { loss: tf.Scalar; parts: Record<string, tf.Scalar> };
}

export class JointEmbedding implements Method {
  readonly head: Module;
  private parts: Record<string, tf.Scalar> = {};

  constructor(readonly name: 'barlowtwins' | 'vicreg', readonly backbone: Backbone, private readonly opts: JointEmbeddingOptions, rng: Rng) {
    this.head = buildMlpHead('head', { dims: [backbone.featureDim, ...opts.headDims], batchNorm: opts.headBatchNorm }, rng);
  }

  trainable(): NamedVariable[] { return [...this.backbone.params(), ...this.head.params()]; }
  state(): NamedVariable[] { return [...this.backbone.buffers(), ...this.head.buffers()]; }

  loss(view1: tf.Tensor4D, view2: tf.Tensor4D): tf.Scalar {
    if (view1.shape[0] < 2) {
      throw new UserError(`${this.name}: a batch of ${view1.shape[0]} image (a short last batch with train.drop_last: false); its loss takes statistics over the batch, so keep train.drop_last: true`);
    }
    const project = (x: tf.Tensor4D) => this.head.apply(this.backbone.apply(x, true), true) as tf.Tensor2D;
    const { loss, parts } = this.opts.loss(project(view1), project(view2));
    // Kept: loss() runs inside the tape's scope, which disposes everything else it made.
    tf.dispose(Object.values(this.parts));
    this.parts = Object.fromEntries(Object.entries(parts).map(([k, t]) => [k, tf.keep(t)]));
    return loss;
  }

  takeLossParts(): Record<string, tf.Scalar> {
    const parts = this.parts;
    this.parts = {};
    return parts;
  }

  dispose(): void {
    tf.dispose(Object.values(this.parts));
    disposeModule(this.backbone);
    disposeModule(this.head);
  }
}
