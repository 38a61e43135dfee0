// Solarize as PIL's ImageOps.solarize (used by BYOL / MoCo v3): pixels at or
// above the threshold are inverted, only in the images whose flag is set.
// Written with same-shape arithmetic (which the native backend runs in oneDNN)
// rather than comparisons and boolean masks (generic cpu kernels): an image that
// is not solarized gets threshold 2, above every pixel.
import * as tf from '@tensorflow/tfjs';
import { expandPerImage } from './expand.ts';

/** x [n,h,w,c] in [0, 1]; flags per image; threshold on the 0..1 scale (0.5 = PIL's 128). */
export function applySolarize(x: tf.Tensor4D, flags: Uint8Array, threshold: number): tf.Tensor4D {
  const per = x.size / x.shape[0];
  return tf.tidy(() => {
    const thresholds = tf.tensor(expandPerImage(Array.from(flags, (f) => (f ? threshold : 2)), per), x.shape);
    const ones = tf.tensor(new Float32Array(x.size).fill(1), x.shape);
    const keep = tf.step(tf.sub(thresholds, x), 0); // 1 where x < threshold, else 0
    // keep * x + (1 - keep) * (1 - x): one term is exactly zero, so kept pixels are bit-exact.
    return tf.add(tf.mul(keep, x), tf.mul(tf.sub(ones, keep), tf.sub(ones, x))) as tf.Tensor4D;
  });
}
