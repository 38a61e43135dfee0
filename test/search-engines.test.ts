// The index engines against a plain float64 brute force: exact agrees exactly,
// hnsw (usearch) agrees at high expansion (recall 1.0 on a small set), and both
// honour add-replaces / remove / save + memory-mapped open.
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ExactEngine } from '../src/search/exact.ts';
import { HnswEngine } from '../src/search/hnsw.ts';
import { Rng } from '../src/util/rng.ts';

const DIM = 16;
const N = 600;
const NQ = 40;
const K = 10;

function unitRows(n: number, rng: Rng): Float32Array {
  const v = new Float32Array(n * DIM);
  for (let i = 0; i < n; i++) {
    let ss = 0;
    for (let j = 0; j < DIM; j++) { const x = rng.normal(); v[i * DIM + j] = x; ss += x * x; }
    for (let j = 0; j < DIM; j++) v[i * DIM + j] /= Math.sqrt(ss);
  }
  return v;
}

/** Top-k by float64 dot product, skipping `gone` keys. */
function reference(bank: Float32Array, q: Float32Array, k: number, gone = new Set<number>()): { keys: number[]; scores: number[] }[] {
  const out = [];
  for (let i = 0; i < q.length / DIM; i++) {
    const all: [number, number][] = [];
    for (let r = 0; r < bank.length / DIM; r++) {
      if (gone.has(r)) continue;
      let s = 0;
      for (let j = 0; j < DIM; j++) s += q[i * DIM + j] * bank[r * DIM + j];
      all.push([r, s]);
    }
    all.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
    out.push({ keys: all.slice(0, k).map((x) => x[0]), scores: all.slice(0, k).map((x) => x[1]) });
  }
  return out;
}

function rowsOf(keys: Int32Array, k: number, q: number): number[] { return Array.from(keys.subarray(q * k, (q + 1) * k)); }

describe('search engines', () => {
  let bank: Float32Array;
  let queries: Float32Array;
  let ref: ReturnType<typeof reference>;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    const rng = new Rng('engines');
    bank = unitRows(N, rng);
    queries = unitRows(NQ, rng);
    ref = reference(bank, queries, K);
  });

  it('exact returns the float64 brute force top-k (keys in order, cosine scores) without leaking tensors', async () => {
    const e = new ExactEngine(DIM, bank);
    const before = tf.memory().numTensors;
    const h = await e.search(queries, K);
    expect(tf.memory().numTensors).toBe(before);
    expect(h.k).toBe(K);
    for (let q = 0; q < NQ; q++) {
      expect(rowsOf(h.keys, K, q)).toEqual(ref[q].keys);
      for (let j = 0; j < K; j++) expect(h.scores[q * K + j]).toBeCloseTo(ref[q].scores[j], 5);
    }
    expect(await e.count()).toBe(N);
  });

  it('exact: add replaces, remove hides, k is clamped to the count', async () => {
    const e = new ExactEngine(DIM);
    await e.add(Int32Array.from({ length: 5 }, (_, i) => i), bank.subarray(0, 5 * DIM));
    // Key 2 now holds the first query itself: it must come back first with score 1.
    await e.add(Int32Array.of(2), queries.subarray(0, DIM));
    let h = await e.search(queries.subarray(0, DIM), 10);
    expect(h.k).toBe(5);
    expect(h.keys[0]).toBe(2);
    expect(h.scores[0]).toBeCloseTo(1, 5);
    await e.remove(Int32Array.of(2, 4));
    h = await e.search(queries.subarray(0, DIM), 10);
    expect(h.k).toBe(3);
    expect([...h.keys].sort()).toEqual([0, 1, 3]);
    expect(await e.count()).toBe(3);
  });

  it('hnsw at high expansion agrees with exact (recall@10 = 1.0), scores are cosines', async () => {
    const e = HnswEngine.create(DIM, { connectivity: 16, expansion_add: 256, expansion_search: 256 });
    await e.add(Int32Array.from({ length: N }, (_, i) => i), bank);
    const h = await e.search(queries, K);
    for (let q = 0; q < NQ; q++) {
      expect(rowsOf(h.keys, K, q)).toEqual(ref[q].keys);
      for (let j = 0; j < K; j++) expect(h.scores[q * K + j]).toBeCloseTo(ref[q].scores[j], 5);
    }
  });

  it('hnsw builds the same graph twice from the same rows (one inserter), and a parallel build still finds nearly all', async () => {
    // A small search beam makes the answers depend on the graph, so equal answers mean equal graphs.
    const cfg = { connectivity: 8, expansion_add: 32, expansion_search: 8 };
    const keys = Int32Array.from({ length: N }, (_, i) => i);
    const answers = [];
    for (let b = 0; b < 2; b++) {
      const e = HnswEngine.create(DIM, cfg);
      await e.add(keys, bank);
      answers.push(Array.from((await e.search(queries, K)).keys));
    }
    expect(answers[1]).toEqual(answers[0]);
    const p = HnswEngine.create(DIM, { connectivity: 16, expansion_add: 256, expansion_search: 256, threads: 0 });
    await p.add(keys, bank);
    const h = await p.search(queries, K);
    let hit = 0;
    for (let q = 0; q < NQ; q++) { const want = new Set(ref[q].keys); for (const k of rowsOf(h.keys, K, q)) if (want.has(k)) hit++; }
    expect(hit / (NQ * K)).toBeGreaterThan(0.97);
    expect(() => HnswEngine.create(DIM, { ...cfg, threads: -1 })).toThrow(/threads/);
  });

  it('hnsw saves, opens memory-mapped with the same answers, and refuses writes there', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'selfsup-hnsw-'));
    const cfg = { connectivity: 8, expansion_add: 200, expansion_search: 200 };
    const e = HnswEngine.create(DIM, cfg);
    await e.add(Int32Array.from({ length: N }, (_, i) => i), bank);
    await e.remove(Int32Array.of(ref[0].keys[0]));
    e.file = 'g.usearch';
    await e.save(dir);
    const before = await e.search(queries, K);
    const viewed = HnswEngine.open(join(dir, 'g.usearch'), DIM, { ...cfg, view: true, rows: bank });
    const after = await viewed.search(queries, K);
    expect(Array.from(after.keys)).toEqual(Array.from(before.keys));
    expect(Array.from(after.keys.subarray(0, K))).not.toContain(ref[0].keys[0]);
    await expect(viewed.add(Int32Array.of(0), bank.subarray(0, DIM))).rejects.toThrow(/read-only/);
    // exact: true walks the rows instead of the graph (the removed key is back: the rows are the ground truth).
    const ex = await viewed.search(queries, K, { exact: true });
    expect(rowsOf(ex.keys, K, 0)).toEqual(ref[0].keys);
  });

  it('hnsw add replaces an existing key', async () => {
    const e = HnswEngine.create(DIM, { connectivity: 8, expansion_add: 64, expansion_search: 64 });
    await e.add(Int32Array.from({ length: 50 }, (_, i) => i), bank.subarray(0, 50 * DIM));
    await e.add(Int32Array.of(7), queries.subarray(0, DIM));
    expect(await e.count()).toBe(50);
    const h = await e.search(queries.subarray(0, DIM), 1);
    expect(h.keys[0]).toBe(7);
    expect(h.scores[0]).toBeCloseTo(1, 5);
  });
});
