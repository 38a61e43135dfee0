// Weighted k-nearest-neighbour classification on frozen, L2-normalized features,
// the standard cheap quality signal for self-supervised encoders (InstDisc,
// the MoCo demo, lightly): cosine similarity, top-k neighbours, votes weighted
// by exp(sim / T). Similarities are computed on tfjs in tiles of
// (test rows x train rows), and each test row keeps a running top-k, so memory
// stays bounded for banks of 100k+ items: no N_test x N_train matrix exists.
import * as tf from '@tensorflow/tfjs';

/** Row-major features, `dim` floats per item, with one integer label per item. */
export interface LabeledFeatures {
  features: Float32Array;
  labels: Int32Array;
  dim: number;
}

export interface KnnOptions {
  /** Neighbours per query (clamped to the bank size). */
  k: number;
  /** Temperature of the exp(sim / T) vote weights; ignored for majority voting. */
  temperature: number;
  numClasses: number;
  /** 'exp': votes weighted by exp(sim / T) (InstDisc / MoCo demo); 'majority': one vote per neighbour. */
  weighting: 'exp' | 'majority';
  /** Train-bank rows per similarity tile (default 4096). */
  chunkSize?: number;
  /** Test rows per similarity tile (default 256). */
  queryChunkSize?: number;
}

export interface KnnResult {
  /** Fraction of test items whose highest-scoring class is their label. */
  top1: number;
  /** Fraction of test items whose label is among the 5 highest-scoring classes. */
  top5: number;
  /** Predicted class per test item. */
  predictions: Int32Array;
}

/** Neighbours of each query row, best first: similarity and bank index, `k` per row. */
export interface Neighbours {
  k: number;
  sims: Float32Array;
  indices: Int32Array;
}

/** Returns an L2-normalized copy of row-major features (zero rows stay zero). */
export function l2normalize(f: Float32Array, dim: number): Float32Array {
  if (dim <= 0 || f.length % dim !== 0) throw new Error(`l2normalize: length ${f.length} is not a multiple of dim ${dim}`);
  const out = new Float32Array(f.length);
  for (let off = 0; off < f.length; off += dim) {
    let ss = 0;
    for (let j = 0; j < dim; j++) ss += f[off + j] * f[off + j];
    const inv = ss > 0 ? 1 / Math.sqrt(ss) : 0;
    for (let j = 0; j < dim; j++) out[off + j] = f[off + j] * inv;
  }
  return out;
}

/**
 * Top-k most similar bank rows (by dot product) for every query row, streaming
 * over the bank in chunks. Ties keep the lower bank index first, so the result
 * does not depend on the chunk sizes.
 */
export async function nearestNeighbours(
  bank: Float32Array, query: Float32Array, dim: number, k: number,
  chunkSize = 4096, queryChunkSize = 256,
): Promise<Neighbours> {
  const nBank = bank.length / dim;
  const nQuery = query.length / dim;
  if (!Number.isInteger(nBank) || !Number.isInteger(nQuery)) throw new Error('nearestNeighbours: feature length is not a multiple of dim');
  if (nBank === 0) throw new Error('nearestNeighbours: empty bank');
  const kk = Math.min(k, nBank);
  const sims = new Float32Array(nQuery * kk);
  const indices = new Int32Array(nQuery * kk);
  const bankStep = Math.max(1, Math.floor(chunkSize));
  const queryStep = Math.max(1, Math.floor(queryChunkSize));

  for (let q0 = 0; q0 < nQuery; q0 += queryStep) {
    const qn = Math.min(queryStep, nQuery - q0);
    const q = tf.tensor2d(query.subarray(q0 * dim, (q0 + qn) * dim), [qn, dim]);
    // Running best-k per query row of this tile; filled as chunks arrive.
    let runSims: Float32Array = new Float32Array(0);
    let runIdx: Int32Array = new Int32Array(0);
    let runK = 0;
    for (let b0 = 0; b0 < nBank; b0 += bankStep) {
      const bn = Math.min(bankStep, nBank - b0);
      const kc = Math.min(kk, bn);
      const { values, idx } = tf.tidy(() => {
        const b = tf.tensor2d(bank.subarray(b0 * dim, (b0 + bn) * dim), [bn, dim]);
        const s = tf.matMul(q, b, false, true);
        const t = tf.topk(s, kc, true);
        return { values: t.values, idx: t.indices };
      });
      // Async reads: a GPU backend (webgpu in Node) cannot read back synchronously.
      let cSims: Float32Array, cIdx: Int32Array;
      try {
        [cSims, cIdx] = await Promise.all([values.data() as Promise<Float32Array>, idx.data() as Promise<Int32Array>]);
      } finally {
        values.dispose();
        idx.dispose();
      }
      const merged = mergeTopK(runSims, runIdx, runK, cSims, cIdx, kc, b0, qn, kk);
      runSims = merged.sims;
      runIdx = merged.indices;
      runK = merged.k;
    }
    q.dispose();
    sims.set(runSims, q0 * kk);
    indices.set(runIdx, q0 * kk);
  }
  return { k: kk, sims, indices };
}

/**
 * Merges two per-row lists sorted by descending similarity into the best `kMax`.
 * The running list holds lower bank indices than the chunk, so it wins ties.
 */
function mergeTopK(
  aSims: Float32Array, aIdx: Int32Array, ka: number,
  bSims: Float32Array, bIdx: Int32Array, kb: number, bOffset: number,
  rows: number, kMax: number,
): Neighbours {
  const k = Math.min(kMax, ka + kb);
  const sims = new Float32Array(rows * k);
  const indices = new Int32Array(rows * k);
  for (let r = 0; r < rows; r++) {
    let i = 0;
    let j = 0;
    for (let o = 0; o < k; o++) {
      const takeA = j >= kb || (i < ka && aSims[r * ka + i] >= bSims[r * kb + j]);
      if (takeA) {
        sims[r * k + o] = aSims[r * ka + i];
        indices[r * k + o] = aIdx[r * ka + i];
        i++;
      } else {
        sims[r * k + o] = bSims[r * kb + j];
        indices[r * k + o] = bIdx[r * kb + j] + bOffset;
        j++;
      }
    }
  }
  return { k, sims, indices };
}

/**
 * Class scores from neighbours: per query row, `numClasses` summed vote weights.
 */
export function voteScores(
  nb: Neighbours, bankLabels: Int32Array, numClasses: number,
  weighting: 'exp' | 'majority', temperature: number,
): Float64Array {
  if (weighting === 'exp' && !(temperature > 0)) throw new Error(`knn: temperature must be > 0, got ${temperature}`);
  const rows = nb.k === 0 ? 0 : nb.sims.length / nb.k;
  const scores = new Float64Array(rows * numClasses);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < nb.k; j++) {
      const c = bankLabels[nb.indices[r * nb.k + j]];
      if (c < 0 || c >= numClasses) throw new Error(`knn: bank label ${c} outside [0, ${numClasses})`);
      const w = weighting === 'exp' ? Math.exp(nb.sims[r * nb.k + j] / temperature) : 1;
      scores[r * numClasses + c] += w;
    }
  }
  return scores;
}

/** Classes of one score row ordered best first; ties go to the lower class index. */
export function rankClasses(scores: Float64Array, row: number, numClasses: number): number[] {
  const order = Array.from({ length: numClasses }, (_, c) => c);
  const base = row * numClasses;
  order.sort((a, b) => scores[base + b] - scores[base + a] || a - b);
  return order;
}

/** Predictions and top-1 / top-5 from precomputed neighbours (so several votings can share one search). */
export function classifyNeighbours(
  nb: Neighbours, bankLabels: Int32Array, testLabels: Int32Array,
  opts: Pick<KnnOptions, 'numClasses' | 'weighting' | 'temperature'>,
): KnnResult {
  const scores = voteScores(nb, bankLabels, opts.numClasses, opts.weighting, opts.temperature);
  const nTest = testLabels.length;
  const predictions = new Int32Array(nTest);
  let hit1 = 0;
  let hit5 = 0;
  for (let r = 0; r < nTest; r++) {
    const ranked = rankClasses(scores, r, opts.numClasses);
    predictions[r] = ranked[0];
    if (ranked[0] === testLabels[r]) hit1++;
    if (ranked.slice(0, 5).includes(testLabels[r])) hit5++;
  }
  return { top1: nTest ? hit1 / nTest : 0, top5: nTest ? hit5 / nTest : 0, predictions };
}

/** Checks shapes and finds each test row's neighbours in the bank. */
export async function searchBank(train: LabeledFeatures, test: LabeledFeatures, opts: Pick<KnnOptions, 'k' | 'chunkSize' | 'queryChunkSize'>): Promise<Neighbours> {
  if (train.dim !== test.dim) throw new Error(`knn: train dim ${train.dim} != test dim ${test.dim}`);
  if (!(opts.k >= 1)) throw new Error(`knn: k must be >= 1, got ${opts.k}`);
  const nTest = test.features.length / test.dim;
  if (test.labels.length !== nTest) throw new Error(`knn: ${test.labels.length} test labels for ${nTest} rows`);
  if (train.labels.length !== train.features.length / train.dim) throw new Error('knn: train labels do not match rows');
  return nearestNeighbours(train.features, test.features, train.dim, Math.floor(opts.k), opts.chunkSize, opts.queryChunkSize);
}

/** k-NN classification of `test` against the `train` bank; both hold L2-normalized rows. */
export async function knnClassify(train: LabeledFeatures, test: LabeledFeatures, opts: KnnOptions): Promise<KnnResult> {
  return classifyNeighbours(await searchBank(train, test, opts), train.labels, test.labels, opts);
}
