// A picture of what the network sees: the first few images' two views side by
// side, un-normalized back to uint8, for TensorBoard's image tab.
import * as tf from '@tensorflow/tfjs';

export interface PixelGrid { pixels: Uint8Array; width: number; height: number; channels: number }

/** Rows of [view1 | view2] for the first `count` items, with a 2-pixel gap. */
export function viewPairsGrid(view1: tf.Tensor4D, view2: tf.Tensor4D, mean: readonly number[], std: readonly number[], count = 8): PixelGrid {
  const n = Math.min(count, view1.shape[0]);
  const [, h, w, c] = view1.shape;
  const gap = 2;
  const [a, b] = tf.tidy(() => [view1, view2].map((v) => {
    const x = v.slice([0, 0, 0, 0], [n, h, w, c]);
    const un = tf.add(tf.mul(x, tf.tensor1d(std.slice(0, c) as number[])), tf.tensor1d(mean.slice(0, c) as number[]));
    return tf.clipByValue(tf.mul(un, 255), 0, 255).round().dataSync();
  }));
  const width = 2 * w + gap;
  const height = n * h + (n - 1) * gap;
  const pixels = new Uint8Array(width * height * c);
  for (let i = 0; i < n; i++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) {
    const src = ((i * h + y) * w + x) * c + k;
    const row = i * (h + gap) + y;
    pixels[(row * width + x) * c + k] = a[src];
    pixels[(row * width + w + gap + x) * c + k] = b[src];
  }
  return { pixels, width, height, channels: c };
}
