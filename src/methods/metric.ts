// Metric learning with labels (pytorch-metric-learning's recipe, on our trainer):
// embed the batch (both augmented views by default, labels repeated), let a
// miner pick index tuples outside the gradient path, and let a loss turn
// embeddings, labels and tuples into a scalar. SupCon, triplet, contrastive and
// multi-similarity are this one method with a different loss and miner
// (src/methods/supervised.ts says which).
import * as tf from '@tensorflow/tfjs';
import { buildProjectionHead } from '../models/heads.ts';
import { disposeModule, type Backbone, type Module, type NamedVariable } from '../models/module.ts';
import type { MetricLoss, Miner, Stats } from '../losses/types.ts';
import { UserError } from '../util/errors.ts';
import type { Rng } from '../util/rng.ts';
import type { Method, StepContext } from './method.ts';

export interface MetricMethodOptions {
  name: string;
  loss: MetricLoss;
  /**
   * The miner of a step (absent: the loss sees every valid tuple of the batch).
   * Per step so that a miner's random draws depend only on (seed, step), like
   * the views: a resumed run mines exactly what an uninterrupted one would.
   */
  miner?: (step: number) => Miner;
  /** 2: both views embedded (2N rows, each image's views are positives of each other); 1: the first view only. */
  views: 1 | 2;
  /** Projection head on the backbone; absent = the backbone's features are the embedding. */
  head?: { hidden: number; out: number; batchNorm: boolean; layers?: number };
}

export class MetricLearning implements Method {
  readonly name: string;
  readonly head?: Module;
  private stats: Stats = {};
  /** Batches in which the loss found no valid tuple (counted, never NaN). */
  private emptyBatches = 0;

  constructor(readonly backbone: Backbone, private readonly opts: MetricMethodOptions, rng: Rng) {
    this.name = opts.name;
    if (opts.head) this.head = buildProjectionHead(backbone.featureDim, opts.head.hidden, opts.head.out, rng, opts.head.batchNorm, 'head', opts.head.layers);
  }

  trainable(): NamedVariable[] { return [...this.backbone.params(), ...(this.head?.params() ?? [])]; }
  state(): NamedVariable[] { return [...this.backbone.buffers(), ...(this.head?.buffers() ?? [])]; }

  loss(view1: tf.Tensor4D, view2: tf.Tensor4D, ctx: StepContext): tf.Scalar {
    const labels = ctx.labels;
    if (!labels) throw new UserError(`method.name: ${this.name} needs labels, and this batch has none`);
    const n = view1.shape[0];
    if (labels.length !== n) throw new Error(`${this.name}: ${labels.length} labels for a batch of ${n}`);
    // One forward pass over everything: batch-norm statistics span the whole batch, as in SimCLR.
    const x = this.opts.views === 2 ? tf.concat([view1, view2], 0) : view1;
    const rowLabels = this.opts.views === 2 ? concatLabels(labels, labels) : labels;
    const f = this.backbone.apply(x, true) as tf.Tensor2D;
    const z = (this.head ? this.head.apply(f, true) : f) as tf.Tensor2D;
    // Mining reads similarities on the host; nothing it computes is on the loss's gradient path.
    const mined = this.opts.miner?.(ctx.step).mine(z, rowLabels);
    const loss = this.opts.loss.compute(z, rowLabels, mined?.tuples);
    const lossStats = this.opts.loss.lastStats();
    if (lossStats.empty) this.emptyBatches++;
    this.stats = {
      ...prefixed('miner_', mined?.stats ?? {}),
      ...prefixed('loss_', lossStats),
      empty_batches: this.emptyBatches,
    };
    return loss;
  }

  metrics(): Record<string, number> { return this.stats; }

  dispose(): void {
    disposeModule(this.backbone);
    if (this.head) disposeModule(this.head);
  }
}

function concatLabels(a: Int32Array, b: Int32Array): Int32Array {
  const out = new Int32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function prefixed(p: string, s: Stats): Stats {
  return Object.fromEntries(Object.entries(s).filter(([, v]) => Number.isFinite(v)).map(([k, v]) => [`${p}${k}`, v]));
}
