// Gaussian blur with a different sigma per image, as torchvision's
// GaussianBlur: a separable kernel, reflect padding at the borders.
//
// Per-image kernels rule out one shared depthwise filter, so each 1-D pass is
// a batched matmul with a per-image band matrix B_i (reflect padding folded in:
// a tap that falls outside the image adds its weight to the mirrored pixel).
// Vertical: B_i @ X_i with X_i as [rows, cols*c]. Horizontal: the batch is made
// planar ([c*rows, cols] per image) by a matmul with the identity, blurred as
// X_i @ B_i^T, and turned back the same way. Matmuls are the one kernel every
// backend makes fast (the native backend hands them to oneDNN); the generic
// transpose and broadcasting kernels of the cpu backend are what this avoids.
import * as tf from '@tensorflow/tfjs';
import { repeatBlock } from './expand.ts';

/** torchvision's SimCLR rule: kernel side int(fraction * size), made odd; 0 when blur cannot apply. */
export function blurKernelSize(outSize: number, fraction: number, minSize: number): number {
  if (outSize < minSize) return 0;
  let k = Math.floor(fraction * outSize);
  if (k % 2 === 0) k += 1;
  if (k < 3 || (k - 1) / 2 >= outSize) return 0;
  return k;
}

/** Normalized 1-D gaussian taps at -r..r (torchvision's _get_gaussian_kernel1d). */
export function gaussianKernel1d(sigma: number, k: number): Float64Array {
  const r = (k - 1) / 2;
  const taps = new Float64Array(k);
  let sum = 0;
  for (let t = -r; t <= r; t++) sum += (taps[t + r] = Math.exp(-0.5 * (t / sigma) ** 2));
  for (let t = 0; t < k; t++) taps[t] /= sum;
  return taps;
}

/**
 * For an axis of length `size` and taps at -r..r: table[pos * k + (d + r)] = weight of the
 * pixel at pos + d in output pos, with reflect padding folded in.
 */
export function reflectTable(taps: ArrayLike<number>, size: number): Float64Array {
  const k = taps.length, r = (k - 1) / 2;
  const table = new Float64Array(size * k);
  for (let pos = 0; pos < size; pos++) {
    for (let t = -r; t <= r; t++) {
      let q = pos + t;
      if (q < 0) q = -q;
      else if (q >= size) q = 2 * (size - 1) - q;
      table[pos * k + (q - pos + r)] += taps[t + r];
    }
  }
  return table;
}

/** n per-image [s, s] band matrices (row = output position), identity for sigma 0. */
export function bandMatrices(sigmas: Float32Array, k: number, s: number): Float32Array {
  const r = (k - 1) / 2;
  const out = new Float32Array(sigmas.length * s * s);
  sigmas.forEach((sigma, i) => {
    const base = i * s * s;
    if (!(sigma > 0)) {
      for (let y = 0; y < s; y++) out[base + y * s + y] = 1;
      return;
    }
    const table = reflectTable(gaussianKernel1d(sigma, k), s);
    for (let y = 0; y < s; y++) {
      for (let d = -r; d <= r; d++) if (y + d >= 0 && y + d < s) out[base + y * s + y + d] = table[y * k + d + r];
    }
  });
  return out;
}

/** x [n,s,s,c] (any value scale; blur is linear); sigmas per image (0 = untouched); k odd >= 3. */
export function applyBlur(x: tf.Tensor4D, sigmas: Float32Array, k: number): tf.Tensor4D {
  const [n, s, w, c] = x.shape;
  if (s !== w) throw new Error(`applyBlur: square images expected, got ${s}x${w}`);
  return tf.tidy(() => {
    const B = tf.tensor3d(bandMatrices(sigmas, k, s), [n, s, s]);
    const vertical = tf.matMul(B, x.reshape([n, s, s * c]));
    if (c === 1) return tf.matMul(vertical, B, false, true).reshape([n, s, s, 1]) as tf.Tensor4D;
    const I = tf.tensor3d(repeatBlock(eye(c), n, new Float32Array(n * c * c)), [n, c, c]);
    const planar = tf.matMul(I, vertical.reshape([n, s * s, c]), false, true); // [n, c, s*s]
    const horizontal = tf.matMul(planar.reshape([n, c * s, s]), B, false, true);
    return tf.matMul(horizontal.reshape([n, c, s * s]), I, true, false).reshape([n, s, s, c]) as tf.Tensor4D;
  });
}

function eye(c: number): Float32Array {
  const m = new Float32Array(c * c);
  for (let i = 0; i < c; i++) m[i * c + i] = 1;
  return m;
}
