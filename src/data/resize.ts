// Resizing and channel conversion for uint8 HWC images, in plain JS, for the
// binary sources (IDX, CIFAR, STL-10) whose native size may differ from the
// recipe's. Image files go through sharp instead (see folder.ts).

/**
 * Resizes an HWC image to oh x ow: scales so the output is covered, then crops
 * the centre (like sharp's fit 'cover'). The filter is a triangle (bilinear)
 * widened by the downscale factor, so shrinking averages instead of aliasing;
 * when enlarging it equals bilinear with half-pixel centres.
 */
export function resizeHWC(src: Uint8Array, h: number, w: number, c: number, oh: number, ow: number): Uint8Array {
  if (h === oh && w === ow) return src.slice();
  const s = Math.max(oh / h, ow / w);
  const ys = axisWeights(h, oh, s);
  const xs = axisWeights(w, ow, s);
  // Rows first into a float buffer (oh x w x c), then columns.
  const mid = new Float32Array(oh * w * c);
  for (let y = 0; y < oh; y++) {
    const { first, weights } = ys[y];
    for (let k = 0; k < weights.length; k++) {
      const wt = weights[k];
      const row = (first + k) * w * c;
      const o = y * w * c;
      for (let i = 0; i < w * c; i++) mid[o + i] += wt * src[row + i];
    }
  }
  const out = new Uint8Array(oh * ow * c);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      const { first, weights } = xs[x];
      for (let ch = 0; ch < c; ch++) {
        let acc = 0;
        for (let k = 0; k < weights.length; k++) acc += weights[k] * mid[(y * w + first + k) * c + ch];
        out[(y * ow + x) * c + ch] = clampByte(acc);
      }
    }
  }
  return out;
}

interface Taps { first: number; weights: Float64Array }

/** Filter taps along one axis of length n -> m at scale s (centre crop when m / s < n). */
function axisWeights(n: number, m: number, s: number): Taps[] {
  const support = Math.max(1, 1 / s); // triangle half-width in source pixels
  const offset = (n - m / s) / 2;     // source pixels cropped on each side
  const taps: Taps[] = [];
  for (let i = 0; i < m; i++) {
    const centre = offset + (i + 0.5) / s - 0.5;
    let lo = Math.ceil(centre - support);
    let hi = Math.floor(centre + support);
    const raw: number[] = [];
    const idx: number[] = [];
    for (let j = lo; j <= hi; j++) {
      const wt = 1 - Math.abs(j - centre) / support;
      if (wt <= 0) continue;
      idx.push(Math.min(n - 1, Math.max(0, j))); // clamp at the edges
      raw.push(wt);
    }
    // Merge clamped taps into a contiguous run starting at the first index.
    lo = idx[0];
    hi = idx[idx.length - 1];
    const weights = new Float64Array(hi - lo + 1);
    let sum = 0;
    for (let k = 0; k < idx.length; k++) { weights[idx[k] - lo] += raw[k]; sum += raw[k]; }
    for (let k = 0; k < weights.length; k++) weights[k] /= sum;
    taps.push({ first: lo, weights });
  }
  return taps;
}

/**
 * Converts between 1 and 3 channels: gray -> RGB repeats the value; RGB -> gray
 * uses ITU-R 601 luma (0.299 R + 0.587 G + 0.114 B), as PIL's 'L' mode and sharp do.
 */
export function convertChannels(src: Uint8Array, pixels: number, from: number, to: number): Uint8Array {
  if (from === to) return src;
  const out = new Uint8Array(pixels * to);
  if (from === 1 && to === 3) {
    for (let p = 0; p < pixels; p++) out[3 * p] = out[3 * p + 1] = out[3 * p + 2] = src[p];
  } else if (from === 3 && to === 1) {
    for (let p = 0; p < pixels; p++) out[p] = clampByte(0.299 * src[3 * p] + 0.587 * src[3 * p + 1] + 0.114 * src[3 * p + 2]);
  } else {
    throw new Error(`cannot convert ${from} channels to ${to}`);
  }
  return out;
}

function clampByte(v: number): number {
  return v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
}
