// Convolution gradients for the wasm backend, built from ops wasm runs well.
// Stock tfjs-backend-wasm has no Conv2DBackpropFilter at all, and its
// BatchMatMul only reaches XNNPACK when neither operand is transposed (every
// other case is a scalar loop), so these shims transpose explicitly and keep
// matMul on the fast path.
import * as tf from '@tensorflow/tfjs';

export interface ConvGradGeometry {
  strides: [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function pair(v: number | [number, number]): [number, number] {
  return typeof v === 'number' ? [v, v] : v;
}

export function convGradGeometry(attrs: tf.NamedAttrMap, who: string): ConvGradGeometry {
  const dataFormat = (attrs.dataFormat ?? 'NHWC') as 'NHWC' | 'NCHW';
  if (dataFormat !== 'NHWC') throw new Error(`${who} on wasm: only NHWC is supported, got ${dataFormat}`);
  const dil = attrs.dilations as number | [number, number] | undefined;
  if (dil !== undefined && pair(dil).some((d) => d !== 1)) {
    throw new Error(`${who} on wasm: dilation ${JSON.stringify(dil)} is not supported (only 1)`);
  }
  return {
    strides: pair(attrs.strides as number | [number, number]),
    pad: attrs.pad as ConvGradGeometry['pad'],
    dataFormat,
    dimRoundingMode: attrs.dimRoundingMode as ConvGradGeometry['dimRoundingMode'],
  };
}

/**
 * dW[kh, kw, ci, co] = sum over n, oh, ow of xpad[n, oh*sh + kh, ow*sw + kw, ci] * dy[n, oh, ow, co].
 * One tap (kh, kw) at a time: a strided slice of the padded input is an
 * [N*OH*OW, Cin] matrix; dy^T (computed once) times it gives that tap's
 * [Cout, Cin] block. The taps are stacked and transposed to [KH, KW, Cin, Cout].
 * Per-tap slices keep the peak memory at one activation, not KH*KW of them
 * (an im2col of the reference step's first layer would be ~300 MB).
 */
export function conv2dBackpropFilter(
  x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: [number, number, number, number], g: ConvGradGeometry,
): tf.Tensor4D {
  return tf.tidy(() => {
    const info = tf.backend_util.computeConv2DInfo(
      x.shape, filterShape, g.strides, 1, g.pad, g.dimRoundingMode, false, 'channelsLast');
    const { batchSize: n, outHeight: oh, outWidth: ow, strideHeight: sh, strideWidth: sw,
      filterHeight: kh, filterWidth: kw, inChannels: cin, outChannels: cout, padInfo } = info;
    if (dy.shape[1] !== oh || dy.shape[2] !== ow || dy.shape[3] !== cout) {
      throw new Error(`Conv2DBackpropFilter on wasm: dy shape ${dy.shape} does not match output ${[n, oh, ow, cout]}`);
    }
    const rows = n * oh * ow;
    // Only the part of the padding that some tap can reach matters; 'same' with
    // stride 2 may pad one row more than any window touches.
    const needH = (oh - 1) * sh + kh;
    const needW = (ow - 1) * sw + kw;
    const padBottom = Math.max(0, needH - padInfo.top - x.shape[1]);
    const padRight = Math.max(0, needW - padInfo.left - x.shape[2]);
    const xp = padInfo.top || padBottom || padInfo.left || padRight
      ? tf.pad(x, [[0, 0], [padInfo.top, padBottom], [padInfo.left, padRight], [0, 0]])
      : x;
    const dyT = tf.transpose(tf.reshape(dy, [rows, cout])); // [Cout, rows]
    const taps: tf.Tensor2D[] = [];
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const tap = tf.stridedSlice(xp, [0, i, j, 0], [n, i + (oh - 1) * sh + 1, j + (ow - 1) * sw + 1, cin], [1, sh, sw, 1]);
        taps.push(tf.matMul(dyT, tf.reshape(tap, [rows, cin])) as tf.Tensor2D); // [Cout, Cin]
      }
    }
    const stacked = tf.reshape(tf.stack(taps), [kh, kw, cout, cin]);
    return tf.transpose(stacked, [0, 1, 3, 2]) as tf.Tensor4D;
  });
}
