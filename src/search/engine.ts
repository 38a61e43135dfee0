// What every index engine (hnsw via usearch, exact brute force, postgres via
// pgvector) offers the search commands. Vectors are L2-normalized float32 rows
// and scores are cosine similarities (higher = closer), whatever the engine
// computes internally. Keys are the row numbers of the index folder's id list.
export type EngineName = 'hnsw' | 'exact' | 'postgres';

export interface EngineHits {
  /** Neighbours per query row (min(k, count)). */
  k: number;
  /** [nQueries * k] keys, best first; -1 pads where fewer than k exist. */
  keys: Int32Array;
  /** [nQueries * k] cosine similarities matching `keys`. */
  scores: Float32Array;
}

export interface IndexEngine {
  readonly name: EngineName;
  readonly dim: number;
  /** Number of vectors held. */
  count(): Promise<number>;
  /** Adds or replaces vectors: keys[i] gets rows i of `vectors` ([keys.length * dim]). */
  add(keys: Int32Array, vectors: Float32Array): Promise<void>;
  remove(keys: Int32Array): Promise<void>;
  /** k nearest neighbours of each query row ([nQueries * dim]). `exact` forces brute force where the engine can. */
  search(queries: Float32Array, k: number, opts?: { exact?: boolean }): Promise<EngineHits>;
  /** Persists to the index folder (postgres: nothing to write beyond the manifest). */
  save(dir: string): Promise<void>;
  close(): Promise<void>;
}
