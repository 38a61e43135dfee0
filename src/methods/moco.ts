// MoCo (He et al., 2020; v2: Chen et al., 2020; v3: Chen, Xie & He, 2021).
// A query encoder learns; a key encoder, its exponential moving average, encodes
// the other view and never receives gradients.
//   v2: negatives come from a FIFO queue of past keys; loss = InfoNCE over
//       [positive, K queue logits] / T; keys are enqueued after the step.
//   v3: a predictor MLP on the query side, negatives are the other keys of the
//       batch, the loss is always symmetric and the momentum rises to 1 on a cosine.
// Order inside one trainer step, equivalent to the official code's
// "momentum update, then keys": beforeStep encodes keys with the key encoder as
// it is, the optimizer updates the query encoder, afterStep moves the key
// encoder toward it with the momentum of the next step and enqueues the keys.
import * as tf from '@tensorflow/tfjs';
import { buildMlpHead, projectionHeadDims } from '../models/heads.ts';
import { disposeModule, type Backbone, type Module, type NamedVariable } from '../models/module.ts';
import { l2Normalize } from '../losses/ntxent.ts';
import type { Recipe } from '../recipe/index.ts';
import { UserError } from '../util/errors.ts';
import { Rng } from '../util/rng.ts';
import type { Method, StepContext } from './method.ts';
import { batchShuffle, buildNormedHead, setBatchNormSplits } from './moco-bn.ts';
import { batchContrastiveLoss, queueContrastiveLoss } from './moco-loss.ts';
import { MomentumEncoder, momentumAfterStep } from './momentum-encoder.ts';
import { KeyQueue } from './queue.ts';

export interface MocoOptions {
  version: 2 | 3;
  temperature: number;
  /** v2: keys in the queue; a multiple of the keys enqueued per step. */
  queueSize: number;
  /** EMA momentum (v3 with a schedule: the starting value). */
  momentum: number;
  /** Raise the momentum from `momentum` to 1 on a cosine over the run (v3's schedule). */
  momentumSchedule: boolean;
  /** v2: both views as queries (v3 always is). */
  symmetric: boolean;
  /** Batch-norm groups in training mode; > 1 also shuffles the key batch (single-device shuffle-BN). */
  bnSplits: number;
  /** Projection head widths after the backbone, e.g. [hidden, out]. */
  headDims: number[];
  headBatchNorm: boolean;
  /** A non-affine batch norm on the head's output (see OutputNorm); MoCo v3's projector has one. */
  outputBatchNorm: boolean;
  /** v3: hidden width of the predictor (out -> hidden -> out). */
  predictorHidden: number;
}

export const KEY_PREFIX = 'key/';

export class MoCo implements Method {
  readonly name: 'mocov2' | 'mocov3';
  readonly head: Module;
  readonly predictor?: Module;
  /** The key encoder. */
  readonly key: MomentumEncoder;
  readonly queue?: KeyQueue;
  /** Seeds the per-step key shuffles, so a resumed run draws the same ones with nothing to checkpoint. */
  private readonly shuffleSeed: number;

  constructor(readonly backbone: Backbone, readonly opts: MocoOptions, rng: Rng) {
    this.name = opts.version === 2 ? 'mocov2' : 'mocov3';
    const out = opts.headDims[opts.headDims.length - 1];
    const headDims = [backbone.featureDim, ...opts.headDims];
    this.head = buildHead('head', headDims, opts, rng);
    if (opts.version === 3) this.predictor = buildMlpHead('predictor', { dims: [out, opts.predictorHidden, out], batchNorm: true }, rng);
    this.key = new MomentumEncoder(this, KEY_PREFIX, (name, r) => buildHead(name, headDims, opts, r));
    if (opts.version === 2) this.queue = new KeyQueue('moco/queue', opts.queueSize, out, rng);
    this.shuffleSeed = rng.seed();
    setBatchNormSplits(this.modules(), opts.bnSplits);
  }

  get keyBackbone(): Backbone { return this.key.backbone; }
  get keyHead(): Module { return this.key.head; }

  private modules(): Module[] {
    return [this.backbone, this.head, ...(this.predictor ? [this.predictor] : []), this.keyBackbone, this.keyHead];
  }

  trainable(): NamedVariable[] { return [...this.backbone.params(), ...this.head.params(), ...(this.predictor?.params() ?? [])]; }

  state(): NamedVariable[] {
    return [
      ...this.backbone.buffers(), ...this.head.buffers(), ...(this.predictor?.buffers() ?? []),
      ...this.key.params(), ...this.key.buffers(),
      ...(this.queue?.state() ?? []),
    ];
  }

  /** The EMA momentum used by the update that follows step `step` (i.e. before step + 1's keys). */
  momentumAfter(step: number, totalSteps: number): number {
    return momentumAfterStep(this.opts, step, totalSteps);
  }

  private symmetric(): boolean { return this.opts.version === 3 || this.opts.symmetric; }

  /** Unit-length keys of a view from the key encoder, in training mode (batch statistics) as the official code. */
  private keys(x: tf.Tensor4D, rng: Rng): tf.Tensor2D {
    return tf.tidy(() => {
      if (this.opts.bnSplits <= 1) return l2Normalize(this.key.encode(x));
      const { perm, inverse } = batchShuffle(x.shape[0], rng);
      return l2Normalize(tf.gather(this.key.encode(tf.gather(x, perm) as tf.Tensor4D), inverse));
    });
  }

  /** Keys of both views ([k1, k2]), or of the second only ([k2]) for asymmetric v2. */
  beforeStep(view1: tf.Tensor4D, view2: tf.Tensor4D, ctx: StepContext): tf.Tensor[] {
    const rng = new Rng(`moco-shuffle:${this.shuffleSeed}:${ctx.step}`);
    return this.symmetric() ? [this.keys(view1, rng), this.keys(view2, rng)] : [this.keys(view2, rng)];
  }

  private query(x: tf.Tensor4D): tf.Tensor2D {
    const z = this.head.apply(this.backbone.apply(x, true), true);
    return (this.predictor ? this.predictor.apply(z, true) : z) as tf.Tensor2D;
  }

  loss(view1: tf.Tensor4D, view2: tf.Tensor4D, _ctx: StepContext, pre: tf.Tensor[]): tf.Scalar {
    const T = this.opts.temperature;
    const contrast = (q: tf.Tensor2D, k: tf.Tensor2D): tf.Scalar =>
      this.queue ? queueContrastiveLoss(q, k, this.queue.negatives(), T) : batchContrastiveLoss(q, k, T);
    if (!this.symmetric()) return contrast(this.query(view1), pre[0] as tf.Tensor2D);
    const [k1, k2] = pre as tf.Tensor2D[];
    // Summed, as the MoCo CIFAR demo and MoCo v3 do (the recipes' learning rates assume it).
    return tf.add(contrast(this.query(view1), k2), contrast(this.query(view2), k1)) as tf.Scalar;
  }

  afterStep(ctx: StepContext, pre: tf.Tensor[]): void {
    this.key.follow(this.momentumAfter(ctx.step, ctx.totalSteps));
    if (this.queue) {
      const keys = tf.concat(pre as tf.Tensor2D[], 0);
      try { this.queue.enqueue(keys); } finally { keys.dispose(); }
    }
  }

  metrics(ctx: StepContext): Record<string, number> {
    return { momentum: this.momentumAfter(ctx.step, ctx.totalSteps) };
  }

  dispose(): void {
    for (const m of this.modules()) disposeModule(m);
    this.queue?.dispose();
  }
}

/** The projection head: the MLP, then (outputBatchNorm) the non-affine output batch norm. */
function buildHead(name: string, dims: number[], opts: MocoOptions, rng: Rng): Module {
  return buildNormedHead(name, dims, opts.headBatchNorm, opts.outputBatchNorm, rng);
}

/** The MoCo method a recipe describes (`method.name` mocov2 or mocov3), checking the knobs against the batch. */
export function buildMoco(r: Recipe, backbone: Backbone, rng: Rng): MoCo {
  const m = r.method;
  if (m.name !== 'mocov2' && m.name !== 'mocov3') throw new Error(`buildMoco: method '${m.name}'`);
  const version = m.name === 'mocov2' ? 2 : 3;
  const batch = r.train.batch_size;
  if (m.bn_splits > 1) {
    if (batch % m.bn_splits !== 0) {
      throw new UserError(`method.bn_splits: ${m.bn_splits} does not divide train.batch_size ${batch}; use a divisor of the batch size (e.g. ${largestDivisorUpTo(batch, m.bn_splits)})`);
    }
    if (!r.train.drop_last) throw new UserError(`method.bn_splits: ${m.bn_splits} needs train.drop_last: true (a short last batch cannot be split evenly)`);
  }
  if (version === 2) {
    const perStep = batch * (m.symmetric ? 2 : 1);
    if (m.queue_size % perStep !== 0) {
      const near = Math.max(1, Math.round(m.queue_size / perStep)) * perStep;
      throw new UserError(`method.queue_size: ${m.queue_size} is not a multiple of the ${perStep} keys enqueued per step (train.batch_size ${batch}${m.symmetric ? ' x 2 views, method.symmetric' : ''}); use e.g. ${near}`);
    }
  }
  return new MoCo(backbone, {
    version, temperature: m.temperature, queueSize: m.queue_size, momentum: m.momentum,
    momentumSchedule: m.momentum_schedule, symmetric: m.symmetric, bnSplits: m.bn_splits,
    headDims: projectionHeadDims(0, r.model.head_hidden, r.model.head_out, r.model.head_layers).slice(1), headBatchNorm: r.model.head_batch_norm,
    outputBatchNorm: m.output_batch_norm,
    predictorHidden: m.predictor_hidden,
  }, rng);
}

function largestDivisorUpTo(n: number, limit: number): number {
  for (let d = Math.min(n, limit); d > 1; d--) if (n % d === 0) return d;
  return 1;
}
