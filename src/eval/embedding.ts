// 2-D map of embeddings for the report: UMAP (umap-js) driven by our seeded
// generator so the picture is reproducible; PCA for sets too small for UMAP's
// neighbour graph.
import { UMAP } from 'umap-js';
import type { Rng } from '../util/rng.ts';

export interface EmbedOptions {
  rng: Rng;
  nNeighbors?: number;
  minDist?: number;
  nEpochs?: number;
}

/** Row-major [n, 2] coordinates of `features` ([n, dim] row-major). */
export function embed2d(features: Float32Array, dim: number, opts: EmbedOptions): Float32Array {
  const n = features.length / dim;
  if (n < 8) return pca2d(features, dim);
  const rows = Array.from({ length: n }, (_, i) => Array.from(features.subarray(i * dim, (i + 1) * dim)));
  const umap = new UMAP({
    nComponents: 2,
    nNeighbors: Math.min(opts.nNeighbors ?? 15, n - 1),
    minDist: opts.minDist ?? 0.1,
    nEpochs: opts.nEpochs,
    random: () => opts.rng.next(),
  });
  const out = umap.fit(rows);
  return Float32Array.from(out.flat());
}

/** Projection on the two leading principal axes (power iteration with deflation). */
export function pca2d(features: Float32Array, dim: number): Float32Array {
  const n = features.length / dim;
  const mean = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) mean[j] += features[i * dim + j] / n;
  const centred = Float64Array.from(features, (v, i) => v - mean[i % dim]);
  const axes: Float64Array[] = [];
  for (let a = 0; a < 2; a++) {
    // Deterministic start vector; deflate the axes already found.
    let v = Float64Array.from({ length: dim }, (_, j) => 1 / Math.sqrt(dim) + (j === a ? 1 : 0));
    orthonormalize(v, axes);
    for (let it = 0; it < 100; it++) {
      const w = new Float64Array(dim);
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = 0; j < dim; j++) s += centred[i * dim + j] * v[j];
        for (let j = 0; j < dim; j++) w[j] += s * centred[i * dim + j];
      }
      // A rank-deficient set leaves w ~ 0: keep the (orthogonal) current v.
      if (orthonormalize(w, axes) < 1e-12) break;
      v = w;
    }
    axes.push(v);
  }
  const out = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < 2; a++) {
      let s = 0;
      for (let j = 0; j < dim; j++) s += centred[i * dim + j] * axes[a][j];
      out[i * 2 + a] = s;
    }
  }
  return out;
}

/** Removes the components along `axes` from `v` and scales it to unit length; returns its norm before scaling. */
function orthonormalize(v: Float64Array, axes: Float64Array[]): number {
  for (const u of axes) {
    const p = u.reduce((acc, x, j) => acc + x * v[j], 0);
    for (let j = 0; j < v.length; j++) v[j] -= p * u[j];
  }
  const norm = Math.sqrt(v.reduce((acc, x) => acc + x * x, 0));
  if (norm >= 1e-12) for (let j = 0; j < v.length; j++) v[j] /= norm;
  return norm;
}

/** Up to `max` distinct indices of [0, n), sorted; all of them when n <= max. */
export function subsample(n: number, max: number, rng: Rng): Int32Array {
  const all = Int32Array.from({ length: n }, (_, i) => i);
  if (max <= 0 || n <= max) return all;
  return (rng.shuffle(all) as Int32Array).slice(0, max).sort();
}
