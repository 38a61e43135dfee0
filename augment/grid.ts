// A picture of what a recipe's augmentation does: each original next to its
// two views, several such triplets per row, as an RGBA buffer for a PNG.
import * as tf from '@tensorflow/tfjs';

/** One image to draw: uint8 HWC, 1 or 3 channels. */
export interface Cell { data: Uint8Array; height: number; width: number; channels: number }

export interface GridOptions {
  /** Triplets per row of the grid. */
  perRow: number;
  /** Integer upscaling of every cell (nearest neighbour) so small images stay visible. */
  zoom: number;
  /** Pixels between the cells of a triplet; triplets are 3x further apart. */
  gap: number;
}

export interface Rgba { data: Buffer; width: number; height: number }

/** Lays out `rows` of cells (original, view 1, view 2) on a gray background. */
export function composeGrid(triplets: Cell[][], o: GridOptions): Rgba {
  const cellH = Math.max(...triplets.flat().map((c) => c.height)) * o.zoom;
  const cellW = Math.max(...triplets.flat().map((c) => c.width)) * o.zoom;
  const per = Math.max(...triplets.map((t) => t.length));
  const tripletW = per * cellW + (per - 1) * o.gap;
  const cols = Math.min(o.perRow, triplets.length);
  const rows = Math.ceil(triplets.length / cols);
  const outer = 3 * o.gap;
  const width = cols * tripletW + (cols + 1) * outer;
  const height = rows * cellH + (rows + 1) * outer;
  const data = Buffer.alloc(width * height * 4);
  for (let i = 0; i < data.length; i += 4) { data[i] = data[i + 1] = data[i + 2] = 96; data[i + 3] = 255; }
  triplets.forEach((t, k) => {
    const x0 = outer + (k % cols) * (tripletW + outer);
    const y0 = outer + Math.floor(k / cols) * (cellH + outer);
    t.forEach((cell, j) => blit(data, width, cell, x0 + j * (cellW + o.gap), y0, o.zoom));
  });
  return { data, width, height };
}

function blit(dst: Buffer, dstW: number, c: Cell, x0: number, y0: number, zoom: number): void {
  for (let y = 0; y < c.height * zoom; y++) {
    for (let x = 0; x < c.width * zoom; x++) {
      const src = (Math.floor(y / zoom) * c.width + Math.floor(x / zoom)) * c.channels;
      const d = ((y0 + y) * dstW + x0 + x) * 4;
      dst[d] = c.data[src];
      dst[d + 1] = c.data[src + (c.channels === 3 ? 1 : 0)];
      dst[d + 2] = c.data[src + (c.channels === 3 ? 2 : 0)];
    }
  }
}

/** Undoes the normalization of a view tensor [n,h,w,c] and splits it into uint8 cells. */
export async function viewCells(view: tf.Tensor4D, mean: readonly number[], std: readonly number[]): Promise<Cell[]> {
  const [n, h, w, c] = view.shape;
  const t = tf.tidy(() => {
    const unit = tf.add(tf.mul(view, tf.tensor1d(std.slice(0, c))), tf.tensor1d(mean.slice(0, c)));
    return tf.round(tf.mul(tf.clipByValue(unit, 0, 1), 255));
  });
  let bytes: Float32Array;
  try { bytes = (await t.data()) as Float32Array; } finally { t.dispose(); }
  const per = h * w * c;
  return Array.from({ length: n }, (_, i) => ({ data: Uint8Array.from(bytes.subarray(i * per, (i + 1) * per)), height: h, width: w, channels: c }));
}
