// The site's index vectors: stored as float16 (2 bytes a value) or int8 with a
// float32 scale per row (1 byte a value + 4 a row) to keep the download small,
// widened to float32 on the page and searched by brute force (dot products of
// unit rows = cosine similarity). Pure code shared by the exporter, the page and the tests.

export type VectorDtype = 'float16' | 'int8';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 -> IEEE binary16 bits, round to nearest even; overflow to infinity, tiny values to subnormals or zero. */
export function toHalf(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let m = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (m ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    m |= 0x800000;
    const shift = 14 - e;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (m >>> 13);
  const rem = m & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to infinity).
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
  return sign | h;
}

export function fromHalf(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

export function encodeFloat16(v: Float32Array): Uint16Array {
  const out = new Uint16Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = toHalf(v[i]);
  return out;
}

export function decodeFloat16(h: Uint16Array): Float32Array {
  const out = new Float32Array(h.length);
  for (let i = 0; i < h.length; i++) out[i] = fromHalf(h[i]);
  return out;
}

/** Symmetric int8 per row: q = round(127 v / max|v_row|), scale = max|v_row| / 127. */
export function encodeInt8(v: Float32Array, dim: number): { q: Int8Array; scales: Float32Array } {
  const n = v.length / dim;
  const q = new Int8Array(v.length);
  const scales = new Float32Array(n);
  for (let r = 0; r < n; r++) {
    let mx = 0;
    for (let j = r * dim; j < (r + 1) * dim; j++) mx = Math.max(mx, Math.abs(v[j]));
    const s = mx / 127;
    scales[r] = s;
    for (let j = r * dim; j < (r + 1) * dim; j++) q[j] = s > 0 ? Math.round(v[j] / s) : 0;
  }
  return { q, scales };
}

export function decodeInt8(q: Int8Array, scales: Float32Array, dim: number): Float32Array {
  const out = new Float32Array(q.length);
  for (let r = 0; r < scales.length; r++) for (let j = r * dim; j < (r + 1) * dim; j++) out[j] = q[j] * scales[r];
  return out;
}

export interface Hit { row: number; score: number }

/** The k rows with the largest dot product with `query`, best first; ties keep the lower row first (as Node's exact search). */
export function topK(vectors: Float32Array, dim: number, query: Float32Array, k: number): Hit[] {
  const n = vectors.length / dim;
  const best: Hit[] = [];
  for (let r = 0; r < n; r++) {
    let s = 0;
    for (let j = 0; j < dim; j++) s += vectors[r * dim + j] * query[j];
    if (best.length === k && s <= best[k - 1].score) continue;
    let i = best.length === k ? k - 1 : best.length;
    if (best.length < k) best.push({ row: r, score: s });
    while (i > 0 && best[i - 1].score < s) { best[i] = best[i - 1]; i--; }
    best[i] = { row: r, score: s };
  }
  return best;
}

/** Unit length in float64 (as src/eval/knn.ts l2normalize), zero rows stay zero. */
export function l2normalize(v: Float32Array): Float32Array {
  let ss = 0;
  for (let j = 0; j < v.length; j++) ss += v[j] * v[j];
  const inv = ss > 0 ? 1 / Math.sqrt(ss) : 0;
  return v.map((x) => x * inv);
}
