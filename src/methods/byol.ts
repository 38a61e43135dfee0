// BYOL (Grill et al., 2020): no negatives. An online network (backbone,
// projector, predictor) predicts the target network's projection of the other
// view; the target is the online encoder's exponential moving average and gets no
// gradient. What keeps it from collapsing to a constant is the asymmetry: the
// predictor on one side, the slowly moving target on the other.
// One trainer step, as in the paper: targets of both views from the target
// network as it is (beforeStep), the symmetric loss through the online network,
// the optimizer update, then the target follows with the next step's momentum.
import * as tf from '@tensorflow/tfjs';
import { buildMlpHead } from '../models/heads.ts';
import { disposeModule, type Backbone, type Module, type NamedVariable } from '../models/module.ts';
import { byolLoss } from '../losses/negcosine.ts';
import type { Rng } from '../util/rng.ts';
import type { Method, StepContext } from './method.ts';
import { MomentumEncoder, momentumAfterStep } from './momentum-encoder.ts';

export interface ByolOptions {
  /** EMA momentum of the target (with the schedule: the starting value; the paper's 0.996 for long runs). */
  momentum: number;
  /** Raise the momentum to 1 on a cosine over the run (the paper's schedule). */
  momentumSchedule: boolean;
  /** Projector widths after the backbone, e.g. [hidden, out]. */
  headDims: number[];
  headBatchNorm: boolean;
  /** Hidden width of the predictor (out -> hidden -> out). */
  predictorHidden: number;
}

export const TARGET_PREFIX = 'target/';

export class BYOL implements Method {
  readonly name = 'byol';
  readonly head: Module;
  readonly predictor: Module;
  readonly target: MomentumEncoder;

  constructor(readonly backbone: Backbone, readonly opts: ByolOptions, rng: Rng) {
    const dims = [backbone.featureDim, ...opts.headDims];
    const out = dims[dims.length - 1];
    this.head = buildMlpHead('head', { dims, batchNorm: opts.headBatchNorm }, rng);
    this.predictor = buildMlpHead('predictor', { dims: [out, opts.predictorHidden, out], batchNorm: true }, rng);
    this.target = new MomentumEncoder(this, TARGET_PREFIX, (name, r) => buildMlpHead(name, { dims, batchNorm: opts.headBatchNorm }, r));
  }

  trainable(): NamedVariable[] { return [...this.backbone.params(), ...this.head.params(), ...this.predictor.params()]; }
  state(): NamedVariable[] {
    return [...this.backbone.buffers(), ...this.head.buffers(), ...this.predictor.buffers(), ...this.target.params(), ...this.target.buffers()];
  }

  momentumAfter(step: number, totalSteps: number): number { return momentumAfterStep(this.opts, step, totalSteps); }

  /** The target network's projections of both views, outside the tape. */
  beforeStep(view1: tf.Tensor4D, view2: tf.Tensor4D): tf.Tensor[] {
    return [this.target.encode(view1), this.target.encode(view2)];
  }

  private predict(x: tf.Tensor4D): tf.Tensor2D {
    return this.predictor.apply(this.head.apply(this.backbone.apply(x, true), true), true) as tf.Tensor2D;
  }

  loss(view1: tf.Tensor4D, view2: tf.Tensor4D, _ctx: StepContext, pre: tf.Tensor[]): tf.Scalar {
    const [t1, t2] = pre as tf.Tensor2D[];
    // Each view through the online network on its own, as the paper's code does
    // (batch statistics per view); summed over the two directions as the paper's loss.
    return tf.add(byolLoss(this.predict(view1), t2), byolLoss(this.predict(view2), t1)) as tf.Scalar;
  }

  afterStep(ctx: StepContext): void { this.target.follow(this.momentumAfter(ctx.step, ctx.totalSteps)); }

  metrics(ctx: StepContext): Record<string, number> { return { momentum: this.momentumAfter(ctx.step, ctx.totalSteps) }; }

  dispose(): void {
    for (const m of [this.backbone, this.head, this.predictor]) disposeModule(m);
    this.target.dispose();
  }
}
