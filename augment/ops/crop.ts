// Random resized crop + horizontal flip in one tf.image.cropAndResize call for
// the whole batch. A crop of integer source pixels [left, left+w) maps to the
// normalized box x1 = left/(W-1), x2 = (left+w-1)/(W-1) (cropAndResize samples
// pixel centers corner to corner), so a crop as large as the output is an exact
// copy. A flip is the same box with x1 and x2 swapped, which cropAndResize
// samples right to left.
import * as tf from '@tensorflow/tfjs';
import type { ViewParams } from '../params.ts';

/** n * 4 normalized boxes [y1, x1, y2, x2] for cropAndResize, flips folded in. */
export function cropBoxes(p: ViewParams, H: number, W: number): Float32Array {
  const boxes = new Float32Array(p.n * 4);
  const dy = Math.max(1, H - 1), dx = Math.max(1, W - 1);
  for (let i = 0; i < p.n; i++) {
    const [top, left, h, w] = p.crops.subarray(i * 4, i * 4 + 4);
    const x1 = left / dx, x2 = (left + w - 1) / dx;
    boxes[i * 4] = top / dy;
    boxes[i * 4 + 2] = (top + h - 1) / dy;
    boxes[i * 4 + 1] = p.flips[i] ? x2 : x1;
    boxes[i * 4 + 3] = p.flips[i] ? x1 : x2;
  }
  return boxes;
}

/** images [n,H,W,C] -> [n,outSize,outSize,C], bilinear, crop i taken from image i. */
export function cropResize(images: tf.Tensor4D, boxes: Float32Array, outSize: number): tf.Tensor4D {
  const n = images.shape[0];
  return tf.tidy(() => tf.image.cropAndResize(
    images,
    tf.tensor2d(boxes, [n, 4]),
    tf.tensor1d(Int32Array.from({ length: n }, (_, i) => i), 'int32'),
    [outSize, outSize],
    'bilinear',
  ));
}
