// Plain-tfjs building blocks the models are made of. They run on every backend;
// the native backend may dispatch some of them to fused oneDNN kernels, which
// must give the same numbers as the code here.
import * as tf from '@tensorflow/tfjs';
import { alloc, read, write } from '../backend/host-memory.ts';
import { nativeBatchNormInfer, nativeBatchNormTrain } from '../backend/native-ops.ts';

export const BN_EPSILON = 1e-5;
/** PyTorch convention: running = (1 - momentum) * running + momentum * batch. */
export const BN_MOMENTUM = 0.1;

/** 'same'-padded convolution, NHWC, kernel [kh, kw, in, out]. */
export function conv2d(x: tf.Tensor4D, kernel: tf.Tensor4D, stride: number): tf.Tensor4D {
  return tf.conv2d(x, kernel, stride, 'same');
}

/** x @ kernel + bias, kernel [in, out]. */
export function linear(x: tf.Tensor2D, kernel: tf.Tensor2D, bias?: tf.Tensor1D): tf.Tensor2D {
  const y: tf.Tensor2D = tf.matMul(x, kernel);
  return bias ? tf.add<tf.Tensor2D>(y, bias) : y;
}

/**
 * Training-mode batch normalization over `axes`, with a closed-form gradient.
 * TF.js's own batchNorm gradient reduces through Tile ops, which is slow on wasm
 * and cpu; the closed form is one pass:
 *   dx = gamma * invstd / N * (N * dy - sum(dy) - xhat * sum(dy * xhat)).
 * The batch statistics live inside the custom op, so the tape never
 * differentiates through them.
 */
type CustomGradFn = Parameters<typeof tf.customGrad>[0];

export function batchNormTrainOp(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, axes: number[]): tf.Tensor {
  const op = tf.customGrad(((xIn: tf.Tensor, gIn: tf.Tensor, bIn: tf.Tensor, save: tf.GradSaveFunc) => {
    const m = tf.moments(xIn, axes, true);
    const invStd = tf.rsqrt(tf.add(m.variance, BN_EPSILON));
    const xhat = tf.mul(tf.sub(xIn, m.mean), invStd);
    save([xhat, invStd, gIn]);
    return {
      value: tf.add(tf.mul(xhat, gIn), bIn),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xh, inv, gam] = saved;
        const count = axes.reduce((s, a) => s * dy.shape[a], 1);
        const dBeta = tf.sum(dy, axes, true);
        const dGamma = tf.sum(tf.mul(dy, xh), axes, true);
        const scale = tf.div(tf.mul(gam, inv), count);
        const inner = tf.sub(tf.sub(tf.mul(dy, count), dBeta), tf.mul(xh, dGamma));
        return [
          tf.mul(inner, scale),
          tf.reshape(tf.sum(dGamma, sumToParamAxes(dGamma)), gam.shape),
          tf.reshape(tf.sum(dBeta, sumToParamAxes(dBeta)), gam.shape),
        ];
      },
    };
  }) as unknown as CustomGradFn) as unknown as (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.Tensor;
  return op(x, gamma, beta);
}

/** Parameters are [C]; keepDims sums are [1, C] or, for grouped statistics, [G, 1, C]: sum all but the last axis. */
function sumToParamAxes(t: tf.Tensor): number[] {
  return Array.from({ length: t.rank - 1 }, (_, i) => i);
}

export interface BatchNormVars {
  gamma: tf.Variable;
  beta: tf.Variable;
  movingMean: tf.Variable;
  movingVariance: tf.Variable;
}

/**
 * Batch norm over all axes but the last. In training mode it normalizes with the
 * batch statistics and updates the running ones (unbiased variance, as PyTorch);
 * in eval mode it uses the running statistics. `groups` > 1 normalizes each of G
 * equal slices of the batch on its own (MoCo's single-device substitute for
 * shuffle-BN); running statistics then average over the groups.
 */
export function batchNorm<T extends tf.Tensor>(x: T, v: BatchNormVars, training: boolean, groups = 1): T {
  if (!training) {
    return tf.batchNorm(x, v.movingMean, v.movingVariance, v.beta, v.gamma, BN_EPSILON) as T;
  }
  const c = x.shape[x.rank - 1];
  const batch = x.shape[0];
  if (groups > 1 && batch % groups !== 0) throw new Error(`batchNorm: batch ${batch} not divisible into ${groups} groups`);
  const g = groups > 1 ? groups : 1;
  // [G, rest..., C] so one reduction over the inner axes gives per-group stats.
  const xg = g > 1 ? tf.reshape(x, [g, -1, c]) : tf.reshape(x, [-1, c]);
  const axes = g > 1 ? [1] : [0];
  if (g === 1 && onNative()) {
    // One fused oneDNN-backend op: statistics, normalisation and a closed-form
    // backward in two passes each, with the statistics reused for the running averages.
    const r = nativeBatchNormTrain(xg, v.gamma, v.beta, BN_EPSILON);
    updateRunningStats(v, r.mean, r.variance, xg.size / c);
    tf.dispose([r.mean, r.variance]);
    return tf.reshape(r.y, x.shape) as T;
  }
  const y = batchNormTrainOp(xg, v.gamma, v.beta, axes);
  // The statistics are taken again for the running averages: these ops are off
  // the path to the loss, so the backward pass never visits them (cheaper than
  // differentiating through shared statistics).
  tf.tidy(() => {
    const { mean, variance } = tf.moments(xg, axes, true);
    updateRunningStats(v, mean, variance, xg.size / (g * c));
  });
  return tf.reshape(y, x.shape) as T;
}

/** What to fuse after a batch norm: y = relu?(bn(x) + residual?). */
export interface BatchNormActivation {
  relu?: boolean;
  /** Added after the normalisation and before the ReLU (a ResNet shortcut); same shape as x. */
  residual?: tf.Tensor;
}

/**
 * relu?(batchNorm(x) + residual?). On the native backend in training mode this
 * is one fused op (the ReLU mask and the residual gradient come out of the
 * batch-norm backward); elsewhere it is exactly the composition of batchNorm,
 * tf.add and tf.relu.
 */
export function batchNormAct<T extends tf.Tensor>(x: T, v: BatchNormVars, training: boolean, act: BatchNormActivation, groups = 1): T {
  if (!training && fuseInference()) {
    // Eval mode: the running statistics go to the same fused kernel, one pass instead of three.
    return nativeBatchNormInfer(x, v.gamma, v.beta, v.movingMean, v.movingVariance, BN_EPSILON, act) as T;
  }
  if (training && groups <= 1 && onNative()) {
    const c = x.shape[x.rank - 1];
    const xg = tf.reshape(x, [-1, c]);
    const residual = act.residual ? tf.reshape(act.residual, xg.shape) : undefined;
    const r = nativeBatchNormTrain(xg, v.gamma, v.beta, BN_EPSILON, { relu: act.relu, residual });
    updateRunningStatsHost(v, r.mean, r.variance, xg.size / c);
    tf.dispose([r.mean, r.variance]);
    return tf.reshape(r.y, x.shape) as T;
  }
  let y: tf.Tensor = batchNorm(x, v, training, groups);
  if (act.residual) y = tf.add(y, act.residual);
  return (act.relu ? tf.relu(y) : y) as T;
}

/**
 * Inference only: relu?(batchNorm(conv2d(x, kernel)) + residual?) with the
 * running statistics. Without a residual the batch norm is folded into the
 * convolution (kernel * s, bias beta - mean * s, s = gamma / sqrt(var + eps)),
 * so conv, normalisation and ReLU are one kernel; with one, the convolution is
 * followed by one fused normalise + add + ReLU pass (the add must precede the
 * ReLU, which a conv bias cannot express). Float32 rounding differs from the
 * unfolded order by a few ulps. Call only where fuseInference() holds.
 */
export function convBatchNormInfer(x: tf.Tensor4D, kernel: tf.Tensor4D, stride: number, v: BatchNormVars, act: BatchNormActivation = {}): tf.Tensor4D {
  if (act.residual) {
    return tf.tidy(() => nativeBatchNormInfer(conv2d(x, kernel, stride), v.gamma, v.beta, v.movingMean, v.movingVariance, BN_EPSILON, act)) as tf.Tensor4D;
  }
  return tf.tidy(() => {
    const scale = tf.mul(v.gamma, tf.rsqrt(tf.add(v.movingVariance, BN_EPSILON)));
    const bias = tf.sub(v.beta, tf.mul(v.movingMean, scale)) as tf.Tensor1D;
    const filter = tf.mul(kernel, scale) as tf.Tensor4D;
    return tf.fused.conv2d({ x, filter, strides: stride, pad: 'same', bias, activation: act.relu ? 'relu' : 'linear' });
  });
}

/** The fused batch-norm kernels exist only on the native backend. */
function onNative(): boolean {
  return tf.getBackend() === 'native';
}

/**
 * Whether eval-mode (inference) fusions apply: native backend, and no gradient
 * tape recording. The inference kernels have no gradient; a gradient through a
 * frozen eval-mode network (rare) takes the plain, differentiable path.
 */
export function fuseInference(): boolean {
  return onNative() && !tf.engine().isTapeOn();
}

export function updateRunningStats(v: BatchNormVars, mean: tf.Tensor, variance: tf.Tensor, countPerGroup: number): void {
  // Outside the gradient's concern: a plain in-place update of the buffers.
  tf.tidy(() => {
    const m = mean.rank > 1 ? tf.mean(tf.reshape(mean, [-1, mean.shape[mean.rank - 1]]), 0) : mean;
    const vr = variance.rank > 1 ? tf.mean(tf.reshape(variance, [-1, variance.shape[variance.rank - 1]]), 0) : variance;
    const unbiased = countPerGroup > 1 ? tf.mul(vr, countPerGroup / (countPerGroup - 1)) : vr;
    v.movingMean.assign(tf.add(tf.mul(v.movingMean, 1 - BN_MOMENTUM), tf.mul(tf.reshape(m, v.movingMean.shape), BN_MOMENTUM)));
    v.movingVariance.assign(tf.add(tf.mul(v.movingVariance, 1 - BN_MOMENTUM), tf.mul(tf.reshape(unbiased, v.movingVariance.shape), BN_MOMENTUM)));
  });
}

/**
 * updateRunningStats for [C] statistics on a host-memory backend, as one loop
 * instead of ten tiny tfjs kernels per batch norm (~0.1 ms each on the cpu
 * kernels, ~10 ms a ResNet-18 step). Rounds as those kernels do (each product
 * and sum to float32), so the running statistics have the same bits.
 */
export function updateRunningStatsHost(v: BatchNormVars, mean: tf.Tensor, variance: tf.Tensor, count: number): void {
  const f = Math.fround;
  const [m, vr, mm, mv] = [read(mean), read(variance), read(v.movingMean), read(v.movingVariance)];
  const [keep, take, unbias] = [f(1 - BN_MOMENTUM), f(BN_MOMENTUM), f(count / (count - 1))];
  const [newMean, newVar] = [alloc(m.length), alloc(m.length)];
  for (let i = 0; i < m.length; i++) {
    newMean[i] = f(mm[i] * keep) + f(m[i] * take);
    newVar[i] = f(mv[i] * keep) + f((count > 1 ? f(vr[i] * unbias) : vr[i]) * take);
  }
  write(v.movingMean, newMean);
  write(v.movingVariance, newVar);
}

export function globalAvgPool(x: tf.Tensor4D): tf.Tensor2D {
  return tf.mean(x, [1, 2]) as tf.Tensor2D;
}
