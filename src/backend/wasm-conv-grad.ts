// Convolution gradients for the wasm backend, rewritten as forward convolutions
// (and, for 1x1 kernels, one matMul) because XNNPACK's forward convolution is by
// far the fastest thing wasm has. Stock tfjs-backend-wasm has no
// Conv2DBackpropFilter at all and its Conv2DBackpropInput is a scalar loop.
// Its BatchMatMul reaches XNNPACK only when neither operand is transposed (every
// other case is a scalar loop), so transposes here are explicit ops. Strided
// and rank-6 slices are element-by-element loops in wasm, so data is moved with
// reshapes, 4-D slices and pads instead.
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
    if (g.kh === 1 && g.kw === 1) return pointwiseBackpropFilter(x, dy, g);
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
 * 1x1 kernels (ResNet's projection shortcuts): dW = xs^T dy with xs the input
 * rows the stride samples. The dilated-filter convolution would walk a sparse
 * pattern for a single output pixel; one matMul is several times faster.
 */
function pointwiseBackpropFilter(x: tf.Tensor4D, dy: tf.Tensor4D, g: Geometry2D): tf.Tensor4D {
  // Pad/crop to exactly OH*sh rows starting at -top, then keep phase 0 of each stride.
  const xp = padOrCrop(x, g.top, g.oh * g.sh - g.top - g.h, g.left, g.ow * g.sw - g.left - g.w);
  const rows = g.n * g.oh * g.ow;
  const xs = g.sh === 1 && g.sw === 1
    ? tf.reshape(xp, [rows, g.cin])
    // [N*OH, sh, OW, sw*Cin]: phase 0 is row 0 of axis 1 and the first Cin of axis 3.
    // (A 4-D slice: wasm's strided and 6-D slices are element-by-element loops.)
    : tf.reshape(tf.slice(tf.reshape(xp, [g.n * g.oh, g.sh, g.ow, g.sw * g.cin]), [0, 0, 0, 0], [g.n * g.oh, 1, g.ow, g.cin]), [rows, g.cin]);
  // Explicit transpose: wasm's matMul reaches XNNPACK only without transpose flags.
  const dw = tf.matMul(tf.transpose(xs), tf.reshape(dy, [rows, g.cout])); // [Cin, Cout]
  return tf.reshape(dw, [1, 1, g.cin, g.cout]);
}

/**
 * dx is the transposed convolution of dy, done with XNNPACK's forward
 * convolution (stock wasm's Conv2DBackpropInput is a scalar loop, several times
 * slower on the reference step). Stride 1: pad dy by KH-1-top / KW-1-left and
 * convolve with the filter rotated 180 degrees, in/out channels swapped.
 */
export function conv2dBackpropInput(
  dy: tf.Tensor4D, filter: tf.Tensor4D, inputShape: [number, number, number, number], gg: ConvGradGeometry,
): tf.Tensor4D {
  return tf.tidy(() => {
    const g = geometry(inputShape, filter.shape, gg);
    checkDy(dy, g, 'Conv2DBackpropInput');
    if (g.sh > 1 || g.sw > 1) return stridedBackpropInput(dy, filter, g);
    const top = g.kh - 1 - g.top;
    const left = g.kw - 1 - g.left;
    // The output must have H rows: H = OH + top' + bottom' - KH + 1.
    const dp = padOrCrop(dy, top, g.h + g.kh - 1 - top - g.oh, left, g.w + g.kw - 1 - left - g.ow);
    const rotated = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D; // [KH, KW, Cout, Cin]
    return tf.conv2d(dp, rotated, 1, 'valid');
  });
}

/**
 * Stride s > 1, by output phase rather than by zero-stuffing dy (which would
 * spend s*s times the work on zeros). With q = h + top = Q*s + r, only taps
 * kh = r + j*s reach padded row q, from dy row Q - j:
 *   dx_r[Q] = sum_j dy[Q - j] * W[r + j*s],
 * a stride-1 convolution of dy with a sub-filter. Each (rh, rw) phase is one
 * such convolution over Q in [0, M); the phases are interleaved back into rows
 * q = Q*s + r and the padding is cut off.
 */
function stridedBackpropInput(dy: tf.Tensor4D, filter: tf.Tensor4D, g: Geometry2D): tf.Tensor4D {
  if (g.kh === 1 && g.kw === 1) return pointwiseStridedBackpropInput(dy, filter, g);
  const mh = Math.ceil((g.top + g.h) / g.sh);
  const mw = Math.ceil((g.left + g.w) / g.sw);
  const taps = (r: number, k: number, s: number) => (r < k ? Math.ceil((k - r) / s) : 0);
  const rows: tf.Tensor4D[] = [];
  for (let rh = 0; rh < g.sh; rh++) {
    const cols: tf.Tensor4D[] = [];
    for (let rw = 0; rw < g.sw; rw++) {
      const jh = taps(rh, g.kh, g.sh), jw = taps(rw, g.kw, g.sw);
      if (jh === 0 || jw === 0) { cols.push(tf.zeros([g.n, mh, mw, g.cin])); continue; }
      // Sub-filter, reversed so the correlation walks dy backwards: sub[t] = W[r + (J-1-t)*s].
      const ih = Array.from({ length: jh }, (_, t) => rh + (jh - 1 - t) * g.sh);
      const iw = Array.from({ length: jw }, (_, t) => rw + (jw - 1 - t) * g.sw);
      const sub = tf.gather(tf.gather(filter, ih, 0), iw, 1);
      const subT = tf.transpose(sub, [0, 1, 3, 2]) as tf.Tensor4D; // [Jh, Jw, Cout, Cin]
      const dp = padOrCrop(dy, jh - 1, mh - g.oh, jw - 1, mw - g.ow);
      cols.push(tf.conv2d(dp, subT, 1, 'valid')); // [N, M_h, M_w, Cin]
    }
    // [N, M_h, M_w, sw, Cin] -> columns Q*sw + rw.
    rows.push(tf.reshape(g.sw > 1 ? tf.stack(cols, 3) : cols[0], [g.n, mh, mw * g.sw, g.cin]));
  }
  const full = tf.reshape(g.sh > 1 ? tf.stack(rows, 2) : rows[0], [g.n, mh * g.sh, mw * g.sw, g.cin]) as tf.Tensor4D;
  return padOrCrop(full, -g.top, g.h + g.top - mh * g.sh, -g.left, g.w + g.left - mw * g.sw);
}

/**
 * 1x1 kernel, stride s: only phase 0 is non-zero, dx[top + Q*s] = dy[Q] W^T.
 * One pointwise convolution, then each result row/column is followed by s-1
 * zeros (a 4-D pad of a reshaped view) and the padding is cut off.
 */
function pointwiseStridedBackpropInput(dy: tf.Tensor4D, filter: tf.Tensor4D, g: Geometry2D): tf.Tensor4D {
  const y = tf.conv2d(dy, tf.transpose(filter, [0, 1, 3, 2]) as tf.Tensor4D, 1, 'valid'); // [N, OH, OW, Cin]
  const spread = tf.pad(tf.reshape(y, [g.n * g.oh, 1, g.ow, g.cin]), [[0, 0], [0, g.sh - 1], [0, 0], [0, (g.sw - 1) * g.cin]]);
  const full = tf.reshape(spread, [g.n, g.oh * g.sh, g.ow * g.sw, g.cin]) as tf.Tensor4D;
  return padOrCrop(full, -g.top, g.h + g.top - g.oh * g.sh, -g.left, g.w + g.left - g.ow * g.sw);
}
