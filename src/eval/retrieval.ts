// Retrieval metrics of an embedding, the deep-metric-learning way (Musgrave et
// al. 2020, "A Metric Learning Reality Check"; pytorch-metric-learning's
// AccuracyCalculator): every labelled item queries all the others
// (leave-one-out), neighbours are ranked by cosine similarity (dot product of
// L2-normalized rows), and per query, with R = its number of same-class items
// among the others,
//   precision_at_1  the nearest neighbour is same-class,
//   r_precision     same-class share of the R nearest,
//   map_at_r        (1/R) sum over i <= R of [i-th is same-class] * precision@i,
//   recall_at[K]    some same-class item among the K nearest (Recall@K of the
//                   retrieval literature, not recall in the IR sense).
// Queries whose class has no other member cannot be scored and are skipped and
// counted. Means are over the scored queries (PML's global average).
//
// Memory and exactness: queries go through in tiles; a tile's similarities to
// the whole bank (rows x n floats, one matMul) are its only large buffer, and
// the tile's row count is cut so that block stays within max_entries (default
// 4M floats, 16 MB: 40 rows at n = 100k). No n x n matrix ever exists. Per
// row, the top L+1 (L = max(R, largest K)) are selected and sorted exactly, so
// no neighbour list is ever truncated (PML's docs warn that its MAP@R and
// R-precision are right only when its k covers the largest class); a class of
// 10k images costs a sort of 10k entries per query, nothing more.
import * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../data/types.ts';
import type { Module } from '../models/module.ts';
import { DEFAULT_RETRIEVAL, type EvalConfig } from '../recipe/sections/eval.ts';
import { extractFeatures, type EvalTransform } from './features.ts';
import { assertWeightsUnchanged, weightsHash } from './guard.ts';

/** The K of Recall@K, as the deep-metric-learning papers report it; also the JSON keys of `recall_at`. */
export const RECALL_KS: readonly number[] = [1, 2, 4, 8];

export interface RetrievalMetrics {
  precision_at_1: number;
  r_precision: number;
  map_at_r: number;
  /** Recall@K keyed by K as a string ("1", "2", "4", "8"). */
  recall_at: Record<string, number>;
  /** Queries scored (items whose class has another member). */
  num_queries: number;
  /** Items whose class has no other member: not scored. */
  skipped_queries: number;
  /** Distinct labels among all items (scored or not). */
  num_classes: number;
}

export interface RetrievalOptions {
  /** Most query rows per tile (default 256). */
  tile?: number;
  /** K values of Recall@K (default 1, 2, 4, 8). */
  ks?: readonly number[];
  /** Cap on query rows x bank size per tile, the tile's similarity block (default 2^22 floats, 16 MB). */
  maxEntries?: number;
}

/** What the trainer prints as retrieval_before / retrieval_after. */
export type RetrievalScore = Pick<RetrievalMetrics, 'precision_at_1' | 'r_precision' | 'map_at_r' | 'recall_at' | 'num_queries'>;

/** One query's scores; `firstHit` is the 0-based place of its first same-class neighbour (Infinity if none). */
export interface QueryScore { p1: number; rp: number; ap: number; firstHit: number }

/**
 * Scores one query from its ranking: `same[i]` is 1 when its i-th nearest neighbour (the query
 * itself removed) is same-class, and `r` >= 1 is its number of same-class items. The ranking must
 * hold at least min(r, largest K) places for the scores to be exact.
 */
export function scoreRanking(same: ArrayLike<number | boolean>, r: number): QueryScore {
  let hits = 0;
  let firstHit = Infinity;
  let ap = 0;
  let rHits = 0;
  for (let i = 0; i < same.length; i++) {
    if (!same[i]) continue;
    hits++;
    if (firstHit === Infinity) firstHit = i;
    if (i < r) { rHits++; ap += hits / (i + 1); }
  }
  return { p1: firstHit === 0 ? 1 : 0, rp: rHits / r, ap: ap / r, firstHit };
}

/**
 * Leave-one-out retrieval metrics of row-major, L2-normalized `features` (`dim` floats per item)
 * with one label per item. Ties in similarity rank the lower item index first, and the query
 * itself is removed by index, so exact duplicates of the query count as ordinary neighbours.
 * The result does not depend on `tile` or `maxEntries`.
 */
export async function retrievalMetrics(features: Float32Array, labels: Int32Array, dim: number, opts: RetrievalOptions = {}): Promise<RetrievalMetrics> {
  const n = labels.length;
  if (!(dim >= 1) || features.length !== n * dim) throw new Error(`retrievalMetrics: ${features.length} floats is not ${n} items x ${dim}`);
  const ks = [...(opts.ks ?? RECALL_KS)];
  if (ks.some((k) => !Number.isInteger(k) || k < 1)) throw new Error(`retrievalMetrics: Recall@K needs positive integer K, got [${ks}]`);
  const kMax = Math.max(1, ...ks);
  // Rows per tile: the tile's similarity block (rows x n floats) stays within the budget.
  const rowsPerTile = Math.max(1, Math.min(Math.floor(opts.tile ?? 256), Math.floor((opts.maxEntries ?? 1 << 22) / Math.max(1, n))));

  const counts = new Map<number, number>();
  for (const y of labels) counts.set(y, (counts.get(y) ?? 0) + 1);
  const rOf = (i: number) => counts.get(labels[i])! - 1;
  const queries = Array.from({ length: n }, (_, i) => i).filter((i) => rOf(i) > 0);

  let p1 = 0, rp = 0, ap = 0;
  const recall = new Float64Array(ks.length);
  const bank = queries.length ? tf.tensor2d(features, [n, dim]) : undefined;
  const scratch = new Float32Array(n);
  const same = new Uint8Array(n);
  try {
    for (let t0 = 0; t0 < queries.length; t0 += rowsPerTile) {
      const rows = queries.slice(t0, t0 + rowsPerTile);
      const q = new Float32Array(rows.length * dim);
      rows.forEach((qi, r) => q.set(features.subarray(qi * dim, (qi + 1) * dim), r * dim));
      const block = tf.tidy(() => tf.matMul(tf.tensor2d(q, [rows.length, dim]), bank!, false, true));
      const sims = (await block.data()) as Float32Array;
      block.dispose();
      rows.forEach((qi, r) => {
        // The first L non-self places decide every metric; the query is among the top L+1 or not at all.
        const len = Math.min(n - 1, Math.max(rOf(qi), kMax));
        const top = topKIndices(sims.subarray(r * n, (r + 1) * n), len + 1, scratch);
        let m = 0;
        for (let j = 0; j < top.length && m < len; j++) if (top[j] !== qi) same[m++] = labels[top[j]] === labels[qi] ? 1 : 0;
        const s = scoreRanking(same.subarray(0, m), rOf(qi));
        p1 += s.p1; rp += s.rp; ap += s.ap;
        ks.forEach((k, t) => { if (s.firstHit < k) recall[t]++; });
      });
    }
  } finally {
    bank?.dispose();
  }
  const q = queries.length;
  const mean = (x: number) => (q > 0 ? x / q : NaN);
  return {
    precision_at_1: mean(p1), r_precision: mean(rp), map_at_r: mean(ap),
    recall_at: Object.fromEntries(ks.map((k, t) => [String(k), mean(recall[t])])),
    num_queries: q, skipped_queries: n - q, num_classes: counts.size,
  };
}

/**
 * Indices of the `k` largest values of `row`, ordered by value (descending) then index
 * (ascending): the k-th largest value is found by quickselect on a copy, every index above it
 * is kept, ties at it fill up in index order, and only those k are sorted. O(n + k log k), on
 * typed arrays (tf.topk builds an object per element and was the bottleneck for large k).
 */
export function topKIndices(row: Float32Array, k: number, scratch: Float32Array = new Float32Array(row.length)): Int32Array {
  const n = row.length;
  const kk = Math.max(0, Math.min(k, n));
  const out = new Int32Array(kk);
  if (kk === 0) return out;
  const a = scratch.subarray(0, n);
  a.set(row);
  const kth = selectDescending(a, kk - 1);
  let m = 0;
  for (let i = 0; i < n; i++) if (row[i] > kth) out[m++] = i;
  for (let i = 0; i < n && m < kk; i++) if (row[i] === kth) out[m++] = i;
  return out.sort((x, y) => row[y] - row[x] || x - y);
}

/** The value that would sit at position `k` if `a` were sorted descending (reorders `a`). */
function selectDescending(a: Float32Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (hi > lo) {
    // Median of three as pivot, then a three-way split: [> pivot | == pivot | < pivot].
    const mid = (lo + hi) >> 1;
    const x = a[lo], y = a[mid], z = a[hi];
    const pivot = x > y ? (y > z ? y : x > z ? z : x) : (x > z ? x : y > z ? z : y);
    let lt = lo, i = lo, gt = hi;
    while (i <= gt) {
      const v = a[i];
      if (v > pivot) { a[i] = a[lt]; a[lt] = v; lt++; i++; } else if (v < pivot) { a[i] = a[gt]; a[gt] = v; gt--; } else i++;
    }
    if (k < lt) hi = lt - 1;
    else if (k > gt) lo = gt + 1;
    else return pivot;
  }
  return a[k];
}

/** Number of distinct labels. */
export function distinctLabels(labels: Int32Array): number { return new Set(labels).size; }

/**
 * Retrieval on `test` with a frozen `embedder` (features L2-normalized, eval transform only).
 * Undefined when the split has no labels, fewer than 2 classes, or no class with 2 members.
 * Throws a ProtocolError if the embedder's weights change while it runs.
 */
export async function retrievalScore(embedder: Module, test: Dataset, cfg: EvalConfig, transform: EvalTransform): Promise<RetrievalScore | undefined> {
  if (!test.labels || distinctLabels(test.labels) < 2) return undefined;
  const hash = await weightsHash(embedder);
  const f = await extractFeatures(embedder, test, transform, { batchSize: cfg.batch_size, normalize: true });
  const score = await retrievalScoreOfFeatures(f.features, test.labels, f.dim, cfg);
  await assertWeightsUnchanged(embedder, hash, 'retrieval evaluation');
  return score;
}

/** retrievalScore on features already extracted (L2-normalized rows), e.g. the k-NN evaluation's test features. */
export async function retrievalScoreOfFeatures(features: Float32Array, labels: Int32Array, dim: number, cfg: EvalConfig): Promise<RetrievalScore | undefined> {
  if (distinctLabels(labels) < 2) return undefined;
  const r = cfg.retrieval ?? DEFAULT_RETRIEVAL;
  const m = await retrievalMetrics(features, labels, dim, { tile: r.query_tile, maxEntries: r.max_entries });
  if (m.num_queries === 0) return undefined;
  return { precision_at_1: m.precision_at_1, r_precision: m.r_precision, map_at_r: m.map_at_r, recall_at: m.recall_at, num_queries: m.num_queries };
}
