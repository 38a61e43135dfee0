import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { MemoryDataset } from '../src/data/memory.ts';
import type { Module } from '../src/models/module.ts';
import { l2normalize } from '../src/eval/knn.ts';
import { retrievalMetrics, retrievalScore, scoreRanking, topKIndices, type RetrievalMetrics } from '../src/eval/retrieval.ts';
import { loadRecipe } from '../src/recipe/index.ts';
import { DEFAULT_RECIPE } from '../src/cli/common.ts';
import { Rng } from '../src/util/rng.ts';
import { UserError } from '../src/util/errors.ts';
import { composeEmbedder } from '../src/eval/embedder.ts';
import { evaluateRetrieval, evaluateVerify } from '../src/eval/evaluate-retrieval.ts';

beforeAll(async () => { await tf.setBackend('cpu'); });

/** Rows at the given angles (degrees) on the unit circle: cosine similarity falls with the angle between them. */
function circle(degrees: number[]): Float32Array {
  return Float32Array.from(degrees.flatMap((d) => [Math.cos((d * Math.PI) / 180), Math.sin((d * Math.PI) / 180)]));
}

/**
 * Reference: per query, every other item sorted by (dot product desc, index asc) in float64,
 * then the definitions as written (Musgrave et al. 2020 sec. 3.2; Recall@K of the DML papers).
 */
function bruteForce(f: Float32Array, labels: Int32Array, dim: number, ks = [1, 2, 4, 8]): RetrievalMetrics {
  const n = labels.length;
  let q = 0, p1 = 0, rp = 0, ap = 0;
  const rec = ks.map(() => 0);
  for (let i = 0; i < n; i++) {
    const others = [...Array(n).keys()].filter((j) => j !== i);
    const R = others.filter((j) => labels[j] === labels[i]).length;
    if (R === 0) continue;
    q++;
    const sim = (j: number) => { let s = 0; for (let d = 0; d < dim; d++) s += f[i * dim + d] * f[j * dim + d]; return s; };
    const ranked = others.map((j) => ({ j, s: sim(j) })).sort((a, b) => b.s - a.s || a.j - b.j);
    const same = ranked.map((e) => labels[e.j] === labels[i]);
    p1 += same[0] ? 1 : 0;
    let hits = 0;
    let sumP = 0;
    for (let k = 0; k < R; k++) if (same[k]) { hits++; sumP += hits / (k + 1); }
    rp += hits / R;
    ap += sumP / R;
    ks.forEach((K, t) => { if (same.slice(0, K).some(Boolean)) rec[t]++; });
  }
  return {
    precision_at_1: p1 / q, r_precision: rp / q, map_at_r: ap / q,
    recall_at: Object.fromEntries(ks.map((K, t) => [String(K), rec[t] / q])),
    num_queries: q, skipped_queries: n - q, num_classes: new Set(labels).size,
  };
}

function expectClose(a: RetrievalMetrics, b: RetrievalMetrics): void {
  expect(a.num_queries).toBe(b.num_queries);
  expect(a.skipped_queries).toBe(b.skipped_queries);
  expect(a.num_classes).toBe(b.num_classes);
  for (const k of ['precision_at_1', 'r_precision', 'map_at_r'] as const) expect(a[k]).toBeCloseTo(b[k], 12);
  expect(Object.keys(a.recall_at)).toEqual(Object.keys(b.recall_at));
  for (const k of Object.keys(b.recall_at)) expect(a.recall_at[k]).toBeCloseTo(b.recall_at[k], 12);
}

describe('scoreRanking (one query)', () => {
  it("reproduces MAP@R's worked example: R = 10, correct at ranks 1, 3 and 4", () => {
    // Musgrave et al. 2020, sec. 3.2: MAP@R = (1/R) sum_{i<=R} P(i), P(i) = precision@i if the i-th is correct else 0
    // = (1/10)(1/1 + 2/3 + 3/4) = 0.241666...; R-precision = 3/10.
    const same = [1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1];
    const s = scoreRanking(same, 10);
    expect(s.ap).toBeCloseTo((1 + 2 / 3 + 3 / 4) / 10, 15);
    expect(s.ap).toBeCloseTo(0.2417, 4);
    expect(s.rp).toBeCloseTo(0.3, 15);
    expect(s.p1).toBe(1);
    expect(s.firstHit).toBe(0);
  });

  it('counts only the first R places for R-precision and MAP@R, and finds the first hit for Recall@K', async () => {
    const s = scoreRanking([0, 0, 1, 1], 2);
    expect(s).toEqual({ p1: 0, rp: 0, ap: 0, firstHit: 2 });
    const perfect = scoreRanking([1, 1, 1, 0], 3);
    expect(perfect).toEqual({ p1: 1, rp: 1, ap: 1, firstHit: 0 });
  });
});

describe('topKIndices', () => {
  it('equals a full sort by (value desc, index asc) on rows with many ties, for every k', async () => {
    const rng = new Rng('topk');
    for (const n of [1, 2, 9, 200]) {
      const row = Float32Array.from({ length: n }, () => rng.int(7) - 3);
      const full = [...Array(n).keys()].sort((a, b) => row[b] - row[a] || a - b);
      for (const k of [0, 1, 2, 5, n - 1, n, n + 3]) {
        if (k < 0) continue;
        expect(Array.from(topKIndices(row, k))).toEqual(full.slice(0, Math.max(0, Math.min(k, n))));
      }
    }
  });
});

describe('retrievalMetrics (leave-one-out)', () => {
  it('matches a hand-worked set of six points on a circle, skipping a single-item class', async () => {
    // angle (deg) / label: 0:0/0  1:10/0  2:55/0  3:25/1  4:65/1  5:180/2 (alone in its class)
    // neighbours (nearest first) and their same-class flags:
    //   q0: 1 3 2 4 5 -> 1 0 1 0 0  R=2  P@1 1  RP 1/2  AP (1/1)/2 = 1/2  first hit 0
    //   q1: 0 3 2 4 5 -> 1 0 1 0 0  R=2  P@1 1  RP 1/2  AP 1/2            first hit 0
    //   q2: 4 3 1 0 5 -> 0 0 1 1 0  R=2  P@1 0  RP 0    AP 0              first hit 2
    //   q3: 1 0 2 4 5 -> 0 0 0 1 0  R=1  P@1 0  RP 0    AP 0              first hit 3
    //   q4: 2 3 1 0 5 -> 0 1 0 0 0  R=1  P@1 0  RP 0    AP 0              first hit 1
    const m = await retrievalMetrics(circle([0, 10, 55, 25, 65, 180]), Int32Array.from([0, 0, 0, 1, 1, 2]), 2);
    expect(m.num_queries).toBe(5);
    expect(m.skipped_queries).toBe(1);
    expect(m.num_classes).toBe(3);
    expect(m.precision_at_1).toBeCloseTo(2 / 5, 12);
    expect(m.r_precision).toBeCloseTo(1 / 5, 12);
    expect(m.map_at_r).toBeCloseTo(1 / 5, 12);
    expect(m.recall_at).toEqual({ 1: 2 / 5, 2: 3 / 5, 4: 1, 8: 1 });
  });

  it('equals a float64 brute force on seeded data with repeated labels and ties, for every tile size', async () => {
    // Small integer rows: every dot product is exact in float32 and float64 alike, so the many
    // ties (and exact duplicate rows) must be broken identically: lower index first.
    const rng = new Rng('retrieval-brute');
    const n = 150;
    const dim = 5;
    const f = Float32Array.from({ length: n * dim }, () => rng.int(5) - 2);
    for (let i = 0; i < 10; i++) { const a = rng.int(n), b = rng.int(n); f.copyWithin(a * dim, b * dim, (b + 1) * dim); }
    // Uneven classes: one big (R ~ 60), some small, one single item.
    const sizes = [61, 30, 25, 17, 9, 5, 2, 1];
    const labels = new Int32Array(sizes.flatMap((s, c) => Array(s).fill(c)));
    rng.shuffle(labels);
    const ref = bruteForce(f, labels, dim);
    expect(ref.skipped_queries).toBe(1);
    const before = tf.memory().numTensors;
    const base = await retrievalMetrics(f, labels, dim);
    expectClose(base, ref);
    // Tiles of 1 row, odd sizes, budgets that cut the tile's rows: bit-identical results, because
    // each query's ranking is computed the same way whatever else shares its tile.
    for (const o of [{ tile: 1 }, { tile: 7 }, { tile: 1000 }, { maxEntries: 700 }, { maxEntries: 1 }, { tile: 13, maxEntries: 5000 }]) {
      expect(await retrievalMetrics(f, labels, dim, o)).toEqual(base);
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('drops the query itself by index, so an exact duplicate is an ordinary neighbour', async () => {
    // Items 0 and 1 are the same vector; 0 is class 1, 1 is class 0; 2 and 3 are class 0, 4 class 1.
    // Query 1 ranks 0 (sim 1, lower index) before anything: a different-class hit first. Dropping
    // "the first item with similarity 1" instead would drop item 0 and score query 1 as P@1 = 1.
    const f = circle([0, 0, 20, 30, 90]);
    const labels = Int32Array.from([1, 0, 0, 0, 1]);
    const m = await retrievalMetrics(f, labels, 2);
    const ref = bruteForce(f, labels, 2);
    expectClose(m, ref);
    // Nearest first (ties: lower index): q0: 1 2 3 4 -> same 0 0 0 1; q1: 0 2 3 4 -> 0 1 1 0;
    // q2: 3 0 1 4 -> 1 0 1 0; q3: 2 0 1 4 -> 1 0 1 0; q4: 3 2 0 1 -> 0 0 1 0.
    expect(m.precision_at_1).toBeCloseTo(2 / 5, 12);
    expect(m.recall_at).toEqual({ 1: 2 / 5, 2: 3 / 5, 4: 1, 8: 1 });
    // q1's R-precision (R = 2) is 1/2 and MAP@R (0 + 1/2)/2 = 1/4; q2, q3: 1/2 and 1/2; q0, q4: 0.
    expect(m.r_precision).toBeCloseTo((0 + 0.5 + 0.5 + 0.5 + 0) / 5, 12);
    expect(m.map_at_r).toBeCloseTo((0 + 0.25 + 0.5 + 0.5 + 0) / 5, 12);
  });

  it('scores nothing when every class has a single item', async () => {
    const m = await retrievalMetrics(circle([0, 90, 180]), Int32Array.from([0, 1, 2]), 2);
    expect(m.num_queries).toBe(0);
    expect(m.skipped_queries).toBe(3);
    expect(Number.isNaN(m.map_at_r)).toBe(true);
  });
});

describe('retrievalScore (library call of the trainer)', () => {
  // A 2x2 one-channel image whose first two pixels are the feature vector.
  const pixelsOf = (rows: number[][]) => Uint8Array.from(rows.flatMap((r) => [r[0], r[1], 0, 0]));
  const firstTwo: Module = {
    apply: (x) => tf.tidy(() => x.reshape([x.shape[0], 4]).slice([0, 0], [-1, 2])),
    params: () => [], buffers: () => [],
  };
  const transform = (b: { data: Uint8Array; n: number; height: number; width: number; channels: number }) =>
    tf.tensor4d(Float32Array.from(b.data), [b.n, b.height, b.width, b.channels]);
  const cfg = loadRecipe(DEFAULT_RECIPE, ['eval.batch_size=3']).eval;

  it('embeds the split, L2-normalizes and returns the five numbers; undefined without labels or with one class', async () => {
    const rows = [[200, 10], [180, 30], [20, 190], [10, 200], [60, 150], [150, 60]];
    const labels = Int32Array.from([0, 0, 1, 1, 1, 0]);
    const ds = new MemoryDataset('pts', pixelsOf(rows), 2, 2, 1, labels);
    const s = await retrievalScore(firstTwo, ds, cfg, transform);
    const ref = await retrievalMetrics(l2normalize(Float32Array.from(rows.flat()), 2), labels, 2);
    expect(s).toEqual({ precision_at_1: ref.precision_at_1, r_precision: ref.r_precision, map_at_r: ref.map_at_r, recall_at: ref.recall_at, num_queries: 6 });
    expect(s!.precision_at_1).toBe(1);
    expect(await retrievalScore(firstTwo, new MemoryDataset('nolabels', pixelsOf(rows), 2, 2, 1), cfg, transform)).toBeUndefined();
    expect(await retrievalScore(firstTwo, new MemoryDataset('one', pixelsOf(rows), 2, 2, 1, new Int32Array(6)), cfg, transform)).toBeUndefined();
  });

  it('evaluateRetrieval / evaluateVerify refuse splits they cannot score, naming the split', async () => {
    const embedder = composeEmbedder({ ...firstTwo, featureDim: 2, config: {} });
    const rows = [[200, 10], [180, 30], [20, 190], [10, 200]];
    const run = (labels?: Int32Array) => ({
      embedder, test: new MemoryDataset('pts', pixelsOf(rows), 2, 2, 1, labels), transform, config: cfg, seed: 0, plots: false,
    });
    await expect(evaluateRetrieval(run())).rejects.toThrow(/pts: the test split has no labels/);
    await expect(evaluateVerify(run(new Int32Array(4)))).rejects.toThrow(/at least 2 classes.*it has 1/);
    await expect(evaluateRetrieval(run(Int32Array.from([0, 1, 2, 3])))).rejects.toThrow(UserError);
    const ok = await evaluateRetrieval(run(Int32Array.from([0, 0, 1, 1])));
    expect(ok.report).toMatchObject({ kind: 'retrieval', precision_at_1: 1, map_at_r: 1, num_queries: 4, n_test: 4, feature_dim: 2 });
  });
});
