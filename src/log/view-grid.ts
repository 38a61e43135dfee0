// A picture of what the network sees: the first few images' two views side by
// side, un-normalized back to uint8, for TensorBoard's image tab. Built from the
// same pieces as `selfsup views` (augment/grid.ts).
import * as tf from '@tensorflow/tfjs';
import { composeGrid, viewCells } from '../../augment/grid.ts';

export interface PixelGrid { pixels: Uint8Array; width: number; height: number; channels: number }

/** Rows of [view1 | view2] for the first `count` items, RGBA. */
export async function viewPairsGrid(view1: tf.Tensor4D, view2: tf.Tensor4D, mean: readonly number[], std: readonly number[], count = 8): Promise<PixelGrid> {
  const n = Math.min(count, view1.shape[0]);
  const [a, b] = await Promise.all([view1, view2].map(async (v) => {
    const head = tf.slice(v, 0, n) as tf.Tensor4D;
    try { return await viewCells(head, mean, std); } finally { head.dispose(); }
  }));
  const g = composeGrid(a.map((cell, i) => [cell, b[i]]), { perRow: 1, zoom: 1, gap: 2 });
  return { pixels: g.data, width: g.width, height: g.height, channels: 4 };
}
