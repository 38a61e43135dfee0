// SimSiam (Chen & He, 2021): BYOL without the momentum encoder. Both views go
// through one backbone and projector; a predictor on each side regresses the
// other view's projection, which is held fixed by a stop-gradient. The paper
// shows the stop-gradient is what prevents collapse (without it the loss drops to
// -1 at once); the projector ends in a batch norm, the predictor is a bottleneck.
import * as tf from '@tensorflow/tfjs';
import { buildMlpHead } from '../models/heads.ts';
import { disposeModule, type Backbone, type Module, type NamedVariable } from '../models/module.ts';
import { negativeCosineLoss, stopGradient } from '../losses/negcosine.ts';
import type { Rng } from '../util/rng.ts';
import type { Method } from './method.ts';
import { buildNormedHead } from './moco-bn.ts';

export interface SimSiamOptions {
  /** Projector widths after the backbone, e.g. [hidden, out]. */
  headDims: number[];
  headBatchNorm: boolean;
  /** A non-affine batch norm on the projector's output (the paper's projector has one). */
  outputBatchNorm: boolean;
  /** Hidden width of the predictor (the paper: a quarter of the output). */
  predictorHidden: number;
}

export class SimSiam implements Method {
  readonly name = 'simsiam';
  readonly head: Module;
  readonly predictor: Module;

  constructor(readonly backbone: Backbone, readonly opts: SimSiamOptions, rng: Rng) {
    const dims = [backbone.featureDim, ...opts.headDims];
    const out = dims[dims.length - 1];
    this.head = buildNormedHead('head', dims, opts.headBatchNorm, opts.outputBatchNorm, rng);
    this.predictor = buildMlpHead('predictor', { dims: [out, opts.predictorHidden, out], batchNorm: true }, rng);
  }

  trainable(): NamedVariable[] { return [...this.backbone.params(), ...this.head.params(), ...this.predictor.params()]; }
  state(): NamedVariable[] { return [...this.backbone.buffers(), ...this.head.buffers(), ...this.predictor.buffers()]; }

  loss(view1: tf.Tensor4D, view2: tf.Tensor4D): tf.Scalar {
    const z1 = this.head.apply(this.backbone.apply(view1, true), true) as tf.Tensor2D;
    const z2 = this.head.apply(this.backbone.apply(view2, true), true) as tf.Tensor2D;
    const p1 = this.predictor.apply(z1, true) as tf.Tensor2D;
    const p2 = this.predictor.apply(z2, true) as tf.Tensor2D;
    // L = D(p1, sg(z2)) / 2 + D(p2, sg(z1)) / 2; in [-1, 1].
    return tf.mul(tf.add(negativeCosineLoss(p1, stopGradient(z2)), negativeCosineLoss(p2, stopGradient(z1))), 0.5) as tf.Scalar;
  }

  dispose(): void { for (const m of [this.backbone, this.head, this.predictor]) disposeModule(m); }
}
