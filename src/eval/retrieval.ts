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
// Memory: queries go through in tiles against the whole bank with a running
// top-(L+1) per row (nearestNeighbours), L = max(R, largest K); no n x n matrix
// exists. The list length is exact per class (never truncated, unlike PML's
// 1023 cap), so a class with huge R would make a tile big: queries are ordered
// by R and a tile stops growing when rows x list length would pass max_entries,
// so a class of 50k images is scored a few rows at a time, still exactly.
import type { Dataset } from '../data/types.ts';
import type { Module } from '../models/module.ts';
import { DEFAULT_RETRIEVAL, type EvalConfig } from '../recipe/sections/eval.ts';
import { extractFeatures, type EvalTransform } from './features.ts';
import { assertWeightsUnchanged, weightsHash } from './guard.ts';
import { nearestNeighbours } from './knn.ts';

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
  /** Cap on query rows x neighbour-list length per tile (default 2^22 entries, ~32 MB). */
  maxEntries?: number;
  /** Bank rows per similarity chunk (default 4096). */
  bankChunk?: number;
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
 * The result does not depend on `tile`, `maxEntries` or `bankChunk`.
 */
export function retrievalMetrics(features: Float32Array, labels: Int32Array, dim: number, opts: RetrievalOptions = {}): RetrievalMetrics {
  const n = labels.length;
  if (!(dim >= 1) || features.length !== n * dim) throw new Error(`retrievalMetrics: ${features.length} floats is not ${n} items x ${dim}`);
  const ks = [...(opts.ks ?? RECALL_KS)];
  if (ks.some((k) => !Number.isInteger(k) || k < 1)) throw new Error(`retrievalMetrics: Recall@K needs positive integer K, got [${ks}]`);
  const kMax = Math.max(1, ...ks);
  const tile = Math.max(1, Math.floor(opts.tile ?? 256));
  const budget = Math.max(1, Math.floor(opts.maxEntries ?? 1 << 22));

  const counts = new Map<number, number>();
  for (const y of labels) counts.set(y, (counts.get(y) ?? 0) + 1);
  const rOf = (i: number) => counts.get(labels[i])! - 1;
  // Ascending R (then index): each tile's list length is set by its last row, so few rows pay for a big class.
  const order = Array.from({ length: n }, (_, i) => i).filter((i) => rOf(i) > 0).sort((a, b) => rOf(a) - rOf(b) || a - b);
  const listLen = (i: number) => Math.min(n - 1, Math.max(rOf(i), kMax));

  let p1 = 0, rp = 0, ap = 0;
  const recall = new Float64Array(ks.length);
  let pos = 0;
  while (pos < order.length) {
    let end = pos + 1;
    while (end < order.length && end - pos < tile && (end - pos + 1) * (listLen(order[end]) + 1) <= budget) end++;
    const rows = order.slice(pos, end);
    const len = listLen(rows[rows.length - 1]);
    const query = new Float32Array(rows.length * dim);
    rows.forEach((qi, r) => query.set(features.subarray(qi * dim, (qi + 1) * dim), r * dim));
    // One more than needed: the query finds itself among its own neighbours (normally first).
    // Bank chunks at least as long as the list: merging a running top-k costs rows x k per chunk.
    const chunk = Math.max(opts.bankChunk ?? 4096, len + 1);
    const nb = nearestNeighbours(features, query, dim, len + 1, chunk, rows.length);
    const same = new Uint8Array(len);
    rows.forEach((qi, r) => {
      let m = 0;
      for (let j = 0; j < nb.k && m < len; j++) {
        const idx = nb.indices[r * nb.k + j];
        if (idx !== qi) same[m++] = labels[idx] === labels[qi] ? 1 : 0;
      }
      const s = scoreRanking(same.subarray(0, m), rOf(qi));
      p1 += s.p1; rp += s.rp; ap += s.ap;
      ks.forEach((k, t) => { if (s.firstHit < k) recall[t]++; });
    });
    pos = end;
  }
  const q = order.length;
  const mean = (x: number) => (q > 0 ? x / q : NaN);
  return {
    precision_at_1: mean(p1), r_precision: mean(rp), map_at_r: mean(ap),
    recall_at: Object.fromEntries(ks.map((k, t) => [String(k), mean(recall[t])])),
    num_queries: q, skipped_queries: n - q, num_classes: counts.size,
  };
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
  const hash = weightsHash(embedder);
  const f = await extractFeatures(embedder, test, transform, { batchSize: cfg.batch_size, normalize: true });
  const r = cfg.retrieval ?? DEFAULT_RETRIEVAL;
  const m = retrievalMetrics(f.features, test.labels, f.dim, { tile: r.query_tile, maxEntries: r.max_entries });
  assertWeightsUnchanged(embedder, hash, 'retrieval evaluation');
  if (m.num_queries === 0) return undefined;
  return { precision_at_1: m.precision_at_1, r_precision: m.r_precision, map_at_r: m.map_at_r, recall_at: m.recall_at, num_queries: m.num_queries };
}
