// One view of a batch, top to bottom in the papers' order:
// crop+flip -> color jitter + grayscale -> blur -> solarize -> normalize.
// Stages that no image of the batch needs are skipped; the 1/255 scaling of
// the uint8 input rides along until a stage needs 0..1 values (blur is linear, so it may wait).
import * as tf from '@tensorflow/tfjs';
import { colorSteps } from './color.ts';
import { applyBlur } from './ops/blur.ts';
import { applyColorSteps } from './ops/colorStage.ts';
import { cropBoxes, cropResize } from './ops/crop.ts';
import { normalize } from './ops/normalize.ts';
import { applySolarize } from './ops/solarize.ts';
import type { ViewParams } from './params.ts';

export interface ViewShape {
  outSize: number;
  /** Output channels (input channels come from the image tensor). */
  channels: 1 | 3;
  mean: readonly number[];
  std: readonly number[];
  /** Blur kernel side for this view, 0 = blur off. */
  blurKernel: number;
  solarizeThreshold: number;
}

/** images: [n,H,W,cin] float32 holding raw 0..255 values. Returns [n,out,out,channels] normalized. */
export function applyView(images: tf.Tensor4D, p: ViewParams, o: ViewShape): tf.Tensor4D {
  const [, H, W, cin] = images.shape;
  return tf.tidy(() => {
    let x = cropResize(images, cropBoxes(p, H, W), o.outSize);
    let scale = 1 / 255;
    const steps = colorSteps(p, cin, o.channels, scale);
    if (steps.length > 0) {
      x = applyColorSteps(x, steps);
      scale = 1;
    }
    const unit = () => {
      if (scale !== 1) { x = tf.mul(x, scale); scale = 1; }
      return x;
    };
    if (o.blurKernel > 0 && p.blurSigma.some((s) => s > 0)) x = applyBlur(x, p.blurSigma, o.blurKernel);
    if (p.solarize.some((f) => f)) x = applySolarize(unit(), p.solarize, o.solarizeThreshold);
    return normalize(x, o.mean, o.std, scale);
  });
}
