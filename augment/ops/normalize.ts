// Per-channel normalization, (x * preScale - mean) / std, as one batch-norm op
// with [c]-shaped statistics: a tight loop on the cpu backend and a oneDNN
// primitive on the native one. preScale folds into the mean and the scale.
import * as tf from '@tensorflow/tfjs';

export function normalize(x: tf.Tensor4D, mean: readonly number[], std: readonly number[], preScale = 1): tf.Tensor4D {
  const c = x.shape[3];
  return tf.tidy(() => tf.batchNorm(
    x,
    tf.tensor1d(mean.slice(0, c).map((m) => m / preScale)),
    tf.tensor1d(std.slice(0, c).map((s) => (s / preScale) ** 2)),
    undefined,
    undefined,
    0,
  ));
}
