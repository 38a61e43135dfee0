// Runs ColorSteps (see ../color.ts) on a batch: per step one batched matmul for
// the per-image color matrices, one add for the contrast offsets, one clamp.
import * as tf from '@tensorflow/tfjs';
import type { ColorStep } from '../color.ts';
import { expandPerImage, repeatBlock } from './expand.ts';

/** x [n,s,s,cin] -> [n,s,s,cout] after every step. */
export function applyColorSteps(x: tf.Tensor4D, steps: ColorStep[]): tf.Tensor4D {
  return tf.tidy(() => steps.reduce((acc, step) => applyStep(acc, step), x));
}

function applyStep(x: tf.Tensor4D, step: ColorStep): tf.Tensor4D {
  const [n, h, w, cin] = x.shape;
  const hw = h * w, cout = step.outChannels;
  if (cin !== step.inChannels) throw new Error(`color step expects ${step.inChannels} channels, got ${cin}`);
  let y: tf.Tensor;
  if (cin === 1 && cout === 1) {
    // A 1x1 matrix is a per-image scale: a same-shape multiply beats a k=1 matmul.
    y = tf.mul(x, tf.tensor4d(expandPerImage(step.matrices, hw), [n, h, w, 1]));
  } else {
    y = tf.matMul(x.reshape([n, hw, cin]), tf.tensor3d(step.matrices, [n, cin, cout]));
  }
  if (step.offsetCoef) {
    // Per image offsetCoef_i * mu_i, broadcast over its pixels. Kept on the device: reading
    // the means back would stall a GPU backend (and webgpu in Node cannot read synchronously).
    const perImage = tf.mul(grayMeans(x, step.meanWeights), tf.tensor2d(step.offsetCoef, [n, 1]));
    y = tf.add(y, perImage.reshape([n, ...new Array<number>(y.rank - 1).fill(1)]));
  }
  if (step.clamp) y = tf.clipByValue(y, 0, 1);
  return y.reshape([n, h, w, cout]) as tf.Tensor4D;
}

/** Per image, the mean over pixels of weights . pixel, [n, 1]: one matmul with a tiled weight vector. */
export function grayMeans(x: tf.Tensor4D, weights: readonly number[]): tf.Tensor2D {
  const [n, h, w, c] = x.shape;
  const per = h * w * c;
  const tiled = repeatBlock(Float32Array.from(weights, (g) => g / (h * w)), h * w, new Float32Array(per));
  return tf.matMul(x.reshape([n, per]), tf.tensor2d(tiled, [per, 1]));
}
