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
  return new Resizer(h, w, c, oh, ow).run(src);
}

/** A resize plan for one shape pair; the filter taps are computed once and reused for every image. */
export class Resizer {
  private readonly ys: Taps;
  private readonly xs: Taps;
  private readonly mid: Float32Array;

  constructor(readonly h: number, readonly w: number, readonly c: number, readonly oh: number, readonly ow: number) {
    const s = Math.max(oh / h, ow / w);
    this.ys = axisTaps(h, oh, s);
    this.xs = axisTaps(w, ow, s);
    this.mid = new Float32Array(oh * w * c);
  }

  run(src: Uint8Array, out = new Uint8Array(this.oh * this.ow * this.c)): Uint8Array {
    const { w, c, oh, ow, mid } = this;
    const rowLen = w * c;
    // Rows first into floats (oh x w x c), then columns.
    mid.fill(0);
    { const { first, weights, k } = this.ys;
      for (let y = 0; y < oh; y++) {
        const o = y * rowLen;
        for (let t = 0; t < k; t++) {
          const wt = weights[y * k + t];
          if (wt === 0) continue;
          const row = (first[y] + t) * rowLen;
          for (let i = 0; i < rowLen; i++) mid[o + i] += wt * src[row + i];
        }
      }
    }
    const { first, weights, k } = this.xs;
    for (let y = 0; y < oh; y++) {
      const rowBase = y * rowLen;
      for (let x = 0; x < ow; x++) {
        const base = rowBase + first[x] * c;
        for (let ch = 0; ch < c; ch++) {
          let acc = 0;
          for (let t = 0; t < k; t++) acc += weights[x * k + t] * mid[base + t * c + ch];
          out[(y * ow + x) * c + ch] = acc <= 0 ? 0 : acc >= 255 ? 255 : Math.round(acc);
        }
      }
    }
    return out;
  }
}

/** Filter taps along one axis, k per output, flattened: output i reads source first[i] .. first[i] + k - 1. */
interface Taps { first: Int32Array; weights: Float32Array; k: number }

/** Taps for an axis of length n -> m at scale s (centre crop when m / s < n). */
function axisTaps(n: number, m: number, s: number): Taps {
  const support = Math.max(1, 1 / s); // triangle half-width in source pixels
  const offset = (n - m / s) / 2;     // source pixels cropped on each side
  const per: { lo: number; w: Float64Array }[] = [];
  let k = 1;
  for (let i = 0; i < m; i++) {
    const centre = offset + (i + 0.5) / s - 0.5;
    const idx: number[] = [];
    const raw: number[] = [];
    for (let j = Math.ceil(centre - support); j <= Math.floor(centre + support); j++) {
      const wt = 1 - Math.abs(j - centre) / support;
      if (wt <= 0) continue;
      idx.push(Math.min(n - 1, Math.max(0, j))); // clamp at the edges
      raw.push(wt);
    }
    const lo = idx[0];
    const w = new Float64Array(idx[idx.length - 1] - lo + 1);
    const sum = raw.reduce((a, b) => a + b, 0);
    idx.forEach((j, t) => (w[j - lo] += raw[t] / sum));
    per.push({ lo, w });
    k = Math.max(k, w.length);
  }
  // Pad every output to k taps, shifting the window left where it would run past the end.
  const first = new Int32Array(m);
  const weights = new Float32Array(m * k);
  per.forEach(({ lo, w }, i) => {
    const start = Math.max(0, Math.min(lo, n - k));
    first[i] = start;
    w.forEach((v, t) => (weights[i * k + lo - start + t] = v));
  });
  return { first, weights, k };
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
