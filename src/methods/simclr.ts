// SimCLR (Chen et al., 2020): encode both views with one network, project, and
// contrast each view against the other 2N-2 views of the batch with NT-Xent.
import * as tf from '@tensorflow/tfjs';
import { ntXentLossStacked } from '../losses/ntxent.ts';
import { buildProjectionHead } from '../models/heads.ts';
import { disposeModule, type Backbone, type Module, type NamedVariable } from '../models/module.ts';
import type { Rng } from '../util/rng.ts';
import type { Method } from './method.ts';

export interface SimClrOptions {
  temperature: number;
  headHidden: number;
  headOut: number;
  headBatchNorm: boolean;
  /** Linear layers in the head (default 2, as SimCLR; SimCLR v2 uses 3). */
  headLayers?: number;
}

export class SimCLR implements Method {
  readonly name = 'simclr';
  readonly head: Module;
  constructor(readonly backbone: Backbone, private readonly opts: SimClrOptions, rng: Rng) {
    this.head = buildProjectionHead(backbone.featureDim, opts.headHidden, opts.headOut, rng, opts.headBatchNorm, 'head', opts.headLayers);
  }
  trainable(): NamedVariable[] { return [...this.backbone.params(), ...this.head.params()]; }
  state(): NamedVariable[] { return [...this.backbone.buffers(), ...this.head.buffers()]; }

  loss(view1: tf.Tensor4D, view2: tf.Tensor4D): tf.Scalar {
    // One forward pass over both views: batch-norm statistics then span all 2N
    // views, as in the paper's implementation (global BN over the full batch).
    const x = tf.concat([view1, view2], 0);
    const z = this.head.apply(this.backbone.apply(x, true), true) as tf.Tensor2D;
    return ntXentLossStacked(z, this.opts.temperature);
  }

  dispose(): void { disposeModule(this.backbone); disposeModule(this.head); }
}
