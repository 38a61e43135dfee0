// Cover-and-centre-crop resize for the page, written to follow sharp's
// resize(size, size, { fit: 'cover' }) as closely as plain JS can: one scale
// factor for both axes (the one that covers), the resized sides rounded, the
// centre cut at (W - size + 1) / 2 as sharp does, a separable Lanczos-3 filter
// widened by the shrink factor (libvips' default kernel), half-pixel centres.
// An image already size x size is left untouched, as sharp leaves it, so that
// case is bit-exact. libvips' fixed-point arithmetic, its integer pre-shrink
// for factors of 4 and more, and its upsampling path are not reproduced: the
// bytes then differ by about a grey level on downscales and more when
// enlarging (numbers in test/web-preprocess.test.ts and the issue note).

function lanczos3(x: number): number {
  if (x === 0) return 1;
  if (x <= -3 || x >= 3) return 0;
  const px = Math.PI * x;
  return (3 * Math.sin(px) * Math.sin(px / 3)) / (px * px);
}

/** For each of m outputs over an axis of n inputs at scale s: the clamped input indices and normalized weights. */
function axisTaps(n: number, m: number, s: number): { idx: Int32Array; w: Float64Array; k: number } {
  const support = 3 * Math.max(1, 1 / s);
  const k = 2 * Math.ceil(support) + 1;
  const idx = new Int32Array(m * k);
  const w = new Float64Array(m * k);
  for (let i = 0; i < m; i++) {
    const centre = (i + 0.5) / s - 0.5;
    const lo = Math.ceil(centre - support);
    let sum = 0;
    for (let t = 0; t < k; t++) {
      const j = lo + t;
      const wt = lanczos3((j - centre) * Math.min(1, s));
      idx[i * k + t] = Math.min(n - 1, Math.max(0, j));
      w[i * k + t] = wt;
      sum += wt;
    }
    for (let t = 0; t < k; t++) w[i * k + t] /= sum;
  }
  return { idx, w, k };
}

const toByte = (v: number) => (v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v));

/** HWC bytes (width x height x c) -> size x size x c: scale to cover, crop the centre. */
export function coverResize(src: Uint8Array, width: number, height: number, c: number, size: number): Uint8Array {
  if (width === size && height === size) return src;
  const scale = Math.max(size / width, size / height);
  const W = Math.max(size, Math.round(width * scale));
  const H = Math.max(size, Math.round(height * scale));
  const left = Math.floor((W - size + 1) / 2);
  const top = Math.floor((H - size + 1) / 2);
  const xs = axisTaps(width, W, W / width);
  const ys = axisTaps(height, H, H / height);
  // Columns first (only the kept ones), into floats: height x size x c.
  const mid = new Float64Array(height * size * c);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < size; x++) {
      const o = (x + left) * xs.k;
      for (let ch = 0; ch < c; ch++) {
        let acc = 0;
        for (let t = 0; t < xs.k; t++) acc += xs.w[o + t] * src[(y * width + xs.idx[o + t]) * c + ch];
        mid[(y * size + x) * c + ch] = acc;
      }
    }
  }
  const out = new Uint8Array(size * size * c);
  for (let y = 0; y < size; y++) {
    const o = (y + top) * ys.k;
    for (let x = 0; x < size; x++) {
      for (let ch = 0; ch < c; ch++) {
        let acc = 0;
        for (let t = 0; t < ys.k; t++) acc += ys.w[o + t] * mid[(ys.idx[o + t] * size + x) * c + ch];
        out[(y * size + x) * c + ch] = toByte(acc);
      }
    }
  }
  return out;
}
