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
    const mu = grayMeans(x, step.meanWeights);
    const offsets = step.offsetCoef.map((k, i) => k * mu[i]);
    y = tf.add(y, tf.tensor(expandPerImage(offsets, hw * cout), y.shape));
  }
  if (step.clamp) y = tf.clipByValue(y, 0, 1);
  return y.reshape([n, h, w, cout]) as tf.Tensor4D;
}

/** Per image, the mean over pixels of weights . pixel: one matmul with a tiled weight vector. */
export function grayMeans(x: tf.Tensor4D, weights: readonly number[]): Float32Array {
  const [n, h, w, c] = x.shape;
  const per = h * w * c;
  const tiled = repeatBlock(Float32Array.from(weights, (g) => g / (h * w)), h * w, new Float32Array(per));
  return tf.tidy(() => tf.matMul(x.reshape([n, per]), tf.tensor2d(tiled, [per, 1])).dataSync() as Float32Array);
}
