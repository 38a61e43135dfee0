// The regression losses of the predictor methods (no negatives): a prediction p
// from the online branch is pulled toward a target z that gets no gradient.
//   SimSiam (Chen & He, 2021): D(p, z) = -cos(p, z), averaged over the batch.
//   BYOL (Grill et al., 2020): ||p/|p| - z/|z|||^2 = 2 - 2 cos(p, z).
// The target's stop-gradient is the caller's (a momentum encoder outside the
// tape, or stopGradient below).
import * as tf from '@tensorflow/tfjs';
import { l2Normalize } from './ntxent.ts';

/** Mean over rows of cos(p_i, z_i). */
function meanCosine(p: tf.Tensor2D, z: tf.Tensor2D): tf.Scalar {
  if (p.shape[0] !== z.shape[0] || p.shape[1] !== z.shape[1]) {
    throw new Error(`cosine regression: predictions [${p.shape}] vs targets [${z.shape}]`);
  }
  return tf.tidy(() => tf.mean(tf.sum(tf.mul(l2Normalize(p), l2Normalize(z)), 1)) as tf.Scalar);
}

/** SimSiam's D(p, z): -cos(p, z), mean over the batch; in [-1, 1], -1 when aligned. */
export function negativeCosineLoss(p: tf.Tensor2D, z: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.neg(meanCosine(p, z)) as tf.Scalar);
}

/** BYOL's normalized MSE, 2 - 2 cos(p, z), mean over the batch; in [0, 4], 0 when aligned. */
export function byolLoss(p: tf.Tensor2D, z: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.sub(2, tf.mul(2, meanCosine(p, z))) as tf.Scalar);
}

/** The identity whose gradient is zero: z as a target inside a taped computation (SimSiam's z.detach()). */
export const stopGradient = tf.customGrad(((x: tf.Tensor) => ({
  value: tf.clone(x),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
})) as Parameters<typeof tf.customGrad>[0]) as <T extends tf.Tensor>(x: T) => T;
