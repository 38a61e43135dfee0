// The `hnsw` engine: an HNSW graph from the `usearch` package (prebuilt native
// binaries inside its npm tarball), cosine metric, float32. Saved as one file
// in the index folder and memory-mapped (usearch `view`) for searching, so
// opening a large index costs no read of the whole graph.
import os from 'node:os';
import path from 'node:path';
import usearch from 'usearch';
import type { EngineHits, IndexEngine } from './engine.ts';
import { ExactEngine } from './exact.ts';

const { Index, MetricKind, ScalarKind } = usearch;
type UIndex = InstanceType<typeof Index>;

/** HNSW knobs: graph degree (M), candidate list size while building, candidate list size while searching. */
export interface HnswConfig { connectivity: number; expansion_add: number; expansion_search: number }

/**
 * Defaults measured with bench/search.ts on 100k 128-d embeddings of MNIST digits and
 * augmented views (2 shared cores): recall@10 0.9994 against exact, single query p50
 * 0.33 ms; expansion_search 32 gave 0.9957 at 0.20 ms, 128 gave 1.0 at 0.51 ms. 64 keeps
 * a margin for harder data (uniform random vectors need ~256 for 0.95, DESIGN.md).
 */
export const HNSW_DEFAULTS: HnswConfig = { connectivity: 16, expansion_add: 128, expansion_search: 64 };

export interface HnswOptions extends HnswConfig {
  /** The rows themselves, for search(..., { exact: true }) (the graph cannot be walked exhaustively). */
  rows?: Float32Array;
  /**
   * Threads inserting into the graph (0 = every core). Default 1: one inserter gives the
   * same graph for the same rows in the same order, and on small indexes a better one —
   * concurrent inserts into a young graph miss each other's links (measured on 600 random
   * 16-d rows, expansion 256: recall@10 1.0 with 1 thread on every build, 0.996 with 2,
   * different on every build). Not part of HnswConfig: it changes no saved setting.
   */
  threads?: number;
}

export class HnswEngine implements IndexEngine {
  readonly name = 'hnsw' as const;
  /** File name save(dir) writes. */
  file = 'hnsw.usearch';
  private exact?: ExactEngine;
  private readonly buildThreads: number;
  /**
   * usearch keeps one search context per thread it reserved for, and refuses a search on
   * more threads than that ("Reserve capacity ahead of searches!"). load/view reserve for
   * every core; an insert that grows the graph reserves for its own thread count.
   */
  private searchContexts: number;

  private constructor(readonly dim: number, private readonly index: UIndex, readonly config: HnswConfig, private readonly readOnly: boolean, opts: HnswOptions) {
    if (opts.rows) this.exact = new ExactEngine(dim, opts.rows);
    const t = opts.threads ?? 1;
    if (!(Number.isInteger(t) && t >= 0)) throw new Error(`hnsw: threads must be a non-negative integer, got ${t}`);
    this.buildThreads = t === 0 ? cores() : t;
    this.searchContexts = cores();
  }

  static create(dim: number, opts: HnswOptions): HnswEngine {
    return new HnswEngine(dim, newIndex(dim, opts), pick(opts), false, opts);
  }

  /** Opens a saved graph: memory-mapped and read-only (`view`), or loaded into memory to add to it. */
  static open(file: string, dim: number, opts: HnswOptions & { view: boolean }): HnswEngine {
    const index = newIndex(dim, opts);
    if (opts.view) index.view(file); else index.load(file);
    const e = new HnswEngine(dim, index, pick(opts), opts.view, opts);
    e.file = path.basename(file);
    return e;
  }

  async count(): Promise<number> { return this.index.size(); }

  async add(keys: Int32Array, vectors: Float32Array): Promise<void> {
    if (this.readOnly) throw new Error('hnsw: this index was opened read-only (memory-mapped)');
    if (vectors.length !== keys.length * this.dim) throw new Error(`add: ${vectors.length} floats for ${keys.length} keys of dim ${this.dim}`);
    if (keys.length === 0) return;
    const big = BigUint64Array.from(keys, (k) => BigInt(k));
    // usearch refuses a key it already holds; "add" replaces, as the interface says.
    const held = this.index.contains(big);
    const dup = big.filter((_, i) => (Array.isArray(held) ? held[i] : held));
    if (dup.length > 0) this.index.remove(dup);
    this.index.add(big, vectors, this.buildThreads);
    this.searchContexts = Math.min(this.searchContexts, this.buildThreads);
  }

  async remove(keys: Int32Array): Promise<void> {
    if (this.readOnly) throw new Error('hnsw: this index was opened read-only (memory-mapped)');
    if (keys.length > 0) this.index.remove(BigUint64Array.from(keys, (k) => BigInt(k)));
  }

  async search(queries: Float32Array, k: number, opts: { exact?: boolean; threads?: number } = {}): Promise<EngineHits> {
    if (opts.exact) {
      if (!this.exact) throw new Error('hnsw: exact search needs the rows (open the index with them)');
      return this.exact.search(queries, k);
    }
    if (queries.length % this.dim !== 0) throw new Error(`search: ${queries.length} floats is not a multiple of dim ${this.dim}`);
    const nq = queries.length / this.dim;
    const kk = Math.min(k, this.index.size());
    const keys = new Int32Array(nq * kk).fill(-1);
    const scores = new Float32Array(nq * kk);
    if (kk === 0 || nq === 0) return { k: kk, keys, scores };
    const threads = Math.min(opts.threads || this.searchContexts, this.searchContexts);
    const m = this.index.search(queries, kk, threads) as { keys: BigUint64Array; distances: Float32Array; counts?: BigUint64Array };
    for (let q = 0; q < nq; q++) {
      const found = m.counts ? Number(m.counts[q]) : m.keys.length;
      for (let j = 0; j < Math.min(found, kk); j++) {
        keys[q * kk + j] = Number(m.keys[q * kk + j]);
        // usearch's cosine distance is 1 - cosine.
        scores[q * kk + j] = 1 - m.distances[q * kk + j];
      }
    }
    return { k: kk, keys, scores };
  }

  async save(dir: string): Promise<void> {
    this.index.save(path.join(dir, this.file));
  }

  async close(): Promise<void> {}
}

/** What usearch means by 0 threads (std::thread::hardware_concurrency). */
function cores(): number { return Math.max(1, os.availableParallelism()); }

function newIndex(dim: number, c: HnswConfig): UIndex {
  for (const [k, v] of Object.entries(pick(c))) {
    if (!(Number.isInteger(v) && v >= 1)) throw new Error(`hnsw: ${k} must be a positive integer, got ${v}`);
  }
  return new Index({
    dimensions: dim, metric: MetricKind.Cos, quantization: ScalarKind.F32,
    connectivity: c.connectivity, expansion_add: c.expansion_add, expansion_search: c.expansion_search, multi: false,
  });
}

function pick(c: HnswConfig): HnswConfig {
  return { connectivity: c.connectivity, expansion_add: c.expansion_add, expansion_search: c.expansion_search };
}
