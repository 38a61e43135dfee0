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

interface Geometry2D {
  n: number; h: number; w: number; oh: number; ow: number; sh: number; sw: number;
  kh: number; kw: number; cin: number; cout: number; top: number; left: number;
}

function geometry(xShape: [number, number, number, number], filterShape: [number, number, number, number], g: ConvGradGeometry): Geometry2D {
  const info = tf.backend_util.computeConv2DInfo(xShape, filterShape, g.strides, 1, g.pad, g.dimRoundingMode, false, 'channelsLast');
  return {
    n: info.batchSize, h: info.inHeight, w: info.inWidth, oh: info.outHeight, ow: info.outWidth,
    sh: info.strideHeight, sw: info.strideWidth, kh: info.filterHeight, kw: info.filterWidth,
    cin: info.inChannels, cout: info.outChannels, top: info.padInfo.top, left: info.padInfo.left,
  };
}

function checkDy(dy: tf.Tensor4D, g: Geometry2D, who: string): void {
  const want = [g.n, g.oh, g.ow, g.cout];
  if (dy.shape.some((d, i) => d !== want[i])) throw new Error(`${who} on wasm: dy shape [${dy.shape}] does not match the convolution's output [${want}]`);
}

/** Pads (positive amounts) and crops (negative amounts) the two spatial axes of an NHWC tensor. */
function padOrCrop(x: tf.Tensor4D, top: number, bottom: number, left: number, right: number): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  let y = x;
  if (top < 0 || bottom < 0 || left < 0 || right < 0) {
    const t = Math.max(0, -top), l = Math.max(0, -left);
    y = tf.slice(y, [0, t, l, 0], [n, h - t - Math.max(0, -bottom), w - l - Math.max(0, -right), c]);
  }
  if (top > 0 || bottom > 0 || left > 0 || right > 0) {
    y = tf.pad(y, [[0, 0], [Math.max(0, top), Math.max(0, bottom)], [Math.max(0, left), Math.max(0, right)], [0, 0]]);
  }
  return y;
}

/**
 * dW[kh, kw, ci, co] = sum over n, oh, ow of xpad[n, oh*sh + kh, ow*sw + kw, ci] * dy[n, oh, ow, co].
 * Read with ci as the batch axis and n as the channel axis, that sum is itself a
 * stride-1 convolution: input x^T [Cin, Hp, Wp, N], filter dy^T [OH, OW, N, Cout]
 * dilated by the forward stride, output [Cin, KH, KW, Cout]. So XNNPACK's
 * convolution (multi-threaded, the fastest thing wasm has) does the work.
 */
export function conv2dBackpropFilter(
  x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: [number, number, number, number], gg: ConvGradGeometry,
): tf.Tensor4D {
  return tf.tidy(() => {
    const g = geometry(x.shape, filterShape, gg);
    checkDy(dy, g, 'Conv2DBackpropFilter');
    // Exactly the rows/cols some window touches: 'same' with stride 2 may pad (or
    // leave) one more row than any window reaches.
    const needH = (g.oh - 1) * g.sh + g.kh;
    const needW = (g.ow - 1) * g.sw + g.kw;
    const xp = padOrCrop(x, g.top, needH - g.top - g.h, g.left, needW - g.left - g.w);
    const xT = tf.transpose(xp, [3, 1, 2, 0]) as tf.Tensor4D; // [Cin, needH, needW, N]
    const dyT = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D; // [OH, OW, N, Cout]
    const dw = tf.conv2d(xT, dyT, 1, 'valid', 'NHWC', [g.sh, g.sw]); // [Cin, KH, KW, Cout]
    return tf.transpose(dw, [1, 2, 0, 3]) as tf.Tensor4D;
  });
}

/**
 * dx = the transposed convolution of dy: dilate dy by the stride (zeros between
 * rows and columns), pad by KH-1-top / KW-1-left, and run a stride-1
 * convolution with the filter rotated 180 degrees and its in/out channels
 * swapped. Again XNNPACK's forward convolution does the work; stock wasm's
 * Conv2DBackpropInput is a scalar loop (about 10x slower on the reference step).
 */
export function conv2dBackpropInput(
  dy: tf.Tensor4D, filter: tf.Tensor4D, inputShape: [number, number, number, number], gg: ConvGradGeometry,
): tf.Tensor4D {
  return tf.tidy(() => {
    const g = geometry(inputShape, filter.shape, gg);
    checkDy(dy, g, 'Conv2DBackpropInput');
    let d: tf.Tensor4D = dy;
    if (g.sh > 1 || g.sw > 1) {
      // [N, OH, 1, OW, 1, C] padded to [N, OH, sh, OW, sw, C]: each value followed by stride-1 zeros.
      const six = tf.reshape(dy, [g.n, g.oh, 1, g.ow, 1, g.cout]);
      const padded = tf.pad(six, [[0, 0], [0, 0], [0, g.sh - 1], [0, 0], [0, g.sw - 1], [0, 0]]);
      d = tf.reshape(padded, [g.n, g.oh * g.sh, g.ow * g.sw, g.cout]);
    }
    // Rows of d: OH*sh; the output must have H rows: H = rows + top' + bottom' - KH + 1.
    const top = g.kh - 1 - g.top;
    const left = g.kw - 1 - g.left;
    const bottom = g.h + g.kh - 1 - top - g.oh * g.sh;
    const right = g.w + g.kw - 1 - left - g.ow * g.sw;
    const dp = padOrCrop(d, top, bottom, left, right);
    const rotated = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D; // [KH, KW, Cout, Cin]
    return tf.conv2d(dp, rotated, 1, 'valid');
  });
}
