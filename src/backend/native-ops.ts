// Fused training-mode batch norm for the native backend, as a tf.customGrad op
// over the native-only kernels in native-kernels.ts. Forward: one pass for the
// batch statistics, one for y = relu?(gamma * xhat + beta + residual?).
// Backward: one pass for the channel sums, one for dx (and dresidual). The
// plain-tfjs op in src/models/ops.ts computes the same function on any backend.
import * as tf from '@tensorflow/tfjs';
import { BN_BACKWARD, BN_FORWARD, BN_STATS } from './native-kernels.ts';

export interface BatchNormTrainResult {
  y: tf.Tensor;
  /** Batch mean [C], a tensor of the caller's scope. */
  mean: tf.Tensor;
  /** Biased batch variance [C], a tensor of the caller's scope. */
  variance: tf.Tensor;
}

export interface BatchNormFusion {
  /** Apply ReLU after the normalisation (and after the residual add). */
  relu?: boolean;
  /** Added to the normalised value before the ReLU, e.g. a ResNet shortcut. Same shape as x. */
  residual?: tf.Tensor;
}

/**
 * Batch norm over every axis but the last, training mode, on the native
 * backend only (its kernels exist nowhere else). x is [..., C]; gamma, beta [C].
 */
export function nativeBatchNormTrain(
  x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number, fusion: BatchNormFusion = {},
): BatchNormTrainResult {
  const relu = fusion.relu === true;
  const residual = fusion.residual;
  if (residual && !tf.util.arraysEqual(residual.shape, x.shape)) {
    throw new Error(`nativeBatchNormTrain: residual shape [${residual.shape}] differs from x [${x.shape}]`);
  }
  // The statistics are computed outside the custom op: no gradient flows into
  // them from it (its backward already accounts for them), and they are
  // ordinary tensors of the caller's scope rather than kept ones.
  const [mean, variance] = tf.engine().runKernel(BN_STATS, { x }) as tf.Tensor[];
  const m = mean, v = variance;
  const body = (xIn: tf.Tensor, gIn: tf.Tensor, bIn: tf.Tensor, rIn: tf.Tensor | undefined, save: tf.GradSaveFunc) => {
    const inputs: Record<string, tf.Tensor> = { x: xIn, gamma: gIn, beta: bIn, mean: m, variance: v };
    if (rIn) inputs.residual = rIn;
    const y = tf.engine().runKernel(BN_FORWARD, inputs, { epsilon, relu }) as tf.Tensor;
    // The ReLU mask: from y when a residual went in before the ReLU; without one the
    // backward recomputes it from x and beta, one activation-sized read fewer per pass.
    save(relu ? [xIn, gIn, m, v, rIn ? y : bIn] : [xIn, gIn, m, v]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, gs, ms, vs, maskFrom] = saved;
        const bIns: Record<string, tf.Tensor> = { dy, x: xs, gamma: gs, mean: ms, variance: vs };
        if (relu && rIn) bIns.y = maskFrom;
        else if (relu) bIns.beta = maskFrom;
        const grads = tf.engine().runKernel(BN_BACKWARD, bIns, { epsilon, residual: rIn !== undefined }) as tf.Tensor[];
        return grads; // [dx, dgamma, dbeta] (+ dresidual)
      },
    };
  };
  const y = residual
    ? (tf.customGrad(((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor, r: tf.Tensor, save: tf.GradSaveFunc) => body(a, g, b, r, save)) as never) as
        (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor, r: tf.Tensor) => tf.Tensor)(x, gamma, beta, residual)
    : (tf.customGrad(((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => body(a, g, b, undefined, save)) as never) as
        (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.Tensor)(x, gamma, beta);
  return { y, mean, variance };
}

/**
 * Inference-mode batch norm with given statistics (the running ones), native
 * backend only: y = relu?(gamma * (x - mean) / sqrt(variance + eps) + beta + residual?)
 * in one pass of the BN_FORWARD kernel, where tf.batchNorm + tf.add + tf.relu
 * take three. x is [..., C]; gamma, beta, mean, variance [C]. No gradient is
 * defined: callers use it only while no gradient tape is recording.
 */
export function nativeBatchNormInfer(
  x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, epsilon: number, fusion: BatchNormFusion = {},
): tf.Tensor {
  const residual = fusion.residual;
  if (residual && !tf.util.arraysEqual(residual.shape, x.shape)) {
    throw new Error(`nativeBatchNormInfer: residual shape [${residual.shape}] differs from x [${x.shape}]`);
  }
  const inputs: Record<string, tf.Tensor> = { x, gamma, beta, mean, variance };
  if (residual) inputs.residual = residual;
  return tf.engine().runKernel(BN_FORWARD, inputs, { epsilon, relu: fusion.relu === true }) as tf.Tensor;
}
