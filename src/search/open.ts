// Opening an index folder for searching: the manifest, ids and vectors are
// checked against each other (a truncated or damaged folder is a user error
// naming the file, never a wrong answer), and the engine the index was built
// with is opened (hnsw memory-mapped; postgres connected).
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../util/errors.ts';
import type { EngineHits, EngineName, IndexEngine } from './engine.ts';
import { ExactEngine } from './exact.ts';
import { HnswEngine } from './hnsw.ts';
import { readIds, readManifest, readVectors, type IdEntry, type IndexManifest } from './manifest.ts';

export interface Neighbor {
  /** Row of the index (the engine's key). */
  row: number;
  id: string;
  /** Cosine similarity. */
  score: number;
}

export interface OpenIndexOptions {
  /** Search by brute force only: the engine is not opened (works on an index whose engine is not up to date). */
  exact?: boolean;
  /** postgres: the database URL (default $SELFSUP_DB, else the password-less one in the manifest). */
  db?: string;
}

export class SearchIndex {
  private exactEngine?: ExactEngine;
  private readonly rowOf: Map<string, number>;

  constructor(
    readonly dir: string, readonly manifest: IndexManifest, readonly ids: IdEntry[], readonly vectors: Float32Array,
    /** The engine the index was built with; undefined when opened with { exact: true }. */
    readonly engine?: IndexEngine,
  ) {
    this.rowOf = new Map(ids.map((e, i) => [e.id, i]));
  }

  get dim(): number { return this.manifest.dim; }
  get count(): number { return this.manifest.count; }
  get engineName(): EngineName { return this.engine?.name ?? 'exact'; }

  /** Row of an id, or undefined. */
  row(id: string): number | undefined { return this.rowOf.get(id); }
  vector(row: number): Float32Array { return this.vectors.subarray(row * this.dim, (row + 1) * this.dim); }

  /** Raw engine hits for queries [n * dim] (L2-normalized rows). */
  async hits(queries: Float32Array, k: number, opts: { exact?: boolean } = {}): Promise<EngineHits> {
    if (queries.length % this.dim !== 0 || queries.length === 0) {
      throw new UserError(`dimension mismatch: ${queries.length} query floats is not a positive multiple of the index's ${this.dim} dimensions`);
    }
    if (!(Number.isInteger(k) && k >= 1)) throw new UserError(`-k: expected a positive integer, got ${k}`);
    if (opts.exact || !this.engine) {
      this.exactEngine ??= new ExactEngine(this.dim, this.vectors);
      return this.exactEngine.search(queries, k);
    }
    return this.engine.search(queries, k);
  }

  /** The k nearest rows of each query, best first, with cosine similarities. */
  async search(queries: Float32Array, k: number, opts: { exact?: boolean } = {}): Promise<Neighbor[][]> {
    const h = await this.hits(queries, k, opts);
    const nq = queries.length / this.dim;
    return Array.from({ length: nq }, (_, q) => {
      const out: Neighbor[] = [];
      for (let j = 0; j < h.k; j++) {
        const row = h.keys[q * h.k + j];
        if (row < 0) continue;
        if (row >= this.count) throw new Error(`${this.dir}: engine returned row ${row} past the ${this.count} indexed`);
        out.push({ row, id: this.ids[row].id, score: h.scores[q * h.k + j] });
      }
      return out;
    });
  }

  async close(): Promise<void> { await this.engine?.close(); }
}

export async function openIndex(dir: string, opts: OpenIndexOptions = {}): Promise<SearchIndex> {
  const m = readManifest(dir);
  const ids = readIds(dir, m);
  const vectors = readVectors(dir, m);
  const engine = opts.exact ? undefined : await openEngine(dir, m, vectors, opts);
  return new SearchIndex(path.resolve(dir), m, ids, vectors, engine);
}

async function openEngine(dir: string, m: IndexManifest, vectors: Float32Array, opts: OpenIndexOptions): Promise<IndexEngine | undefined> {
  const e = m.engine;
  if (e.name === 'exact') return undefined;
  if (e.count !== m.count) {
    throw new UserError(`${path.join(dir, 'manifest.json')}: the ${e.name} engine holds ${e.count} of ${m.count} vectors (an embed run was interrupted); rerun selfsup embed to finish it, or search with --exact`);
  }
  if (e.name === 'hnsw') {
    const file = path.join(dir, e.file ?? '');
    let size = -1;
    try { size = fs.statSync(file).size; } catch { /* reported below */ }
    if (!e.file || size < 0) throw new UserError(`${file}: missing from the index folder (manifest.json names it); rerun selfsup embed`);
    if (e.bytes !== undefined && size !== e.bytes) throw new UserError(`${file}: corrupt HNSW graph (${size} bytes, manifest.json says ${e.bytes}); rerun selfsup embed`);
    let engine: HnswEngine;
    try {
      engine = HnswEngine.open(file, m.dim, {
        connectivity: e.connectivity!, expansion_add: e.expansion_add!, expansion_search: e.expansion_search!, view: true, rows: vectors,
      });
    } catch (err) {
      throw new UserError(`${file}: unreadable HNSW graph (${(err as Error).message}); rerun selfsup embed`);
    }
    const n = await engine.count();
    if (n !== m.count) throw new UserError(`${file}: HNSW graph holds ${n} vectors, manifest.json says ${m.count}; rerun selfsup embed`);
    return engine;
  }
  const url = opts.db ?? process.env.SELFSUP_DB ?? e.db;
  if (!url) throw new UserError(`${dir}: a postgres index; give the database with --db postgres://... or SELFSUP_DB`);
  const engine = await openPostgres({ url, table: e.table!, dim: m.dim, create: false });
  const n = await engine.count();
  if (n !== m.count) {
    await engine.close();
    throw new UserError(`postgres table ${e.table} holds ${n} vectors, ${path.join(dir, 'manifest.json')} says ${m.count}; rerun selfsup embed`);
  }
  return engine;
}

/** The PostgreSQL + pgvector engine (src/search/postgres.ts), loaded only when used. */
export async function openPostgres(opts: { url: string; table: string; dim: number; create: boolean }): Promise<IndexEngine> {
  return (await postgresModule()).openPostgresEngine(opts);
}

/** Checks, and leaves untouched, what openPostgres({ create: true }) will need (postgres.ts checkPostgresTarget). */
export async function checkPostgres(opts: { url: string; table: string; dim: number }): Promise<void> {
  return (await postgresModule()).checkPostgresTarget(opts);
}

interface PostgresModule {
  openPostgresEngine(o: { url: string; table: string; dim: number; create: boolean }): Promise<IndexEngine>;
  checkPostgresTarget(o: { url: string; table: string; dim: number }): Promise<void>;
}

async function postgresModule(): Promise<PostgresModule> {
  try {
    // A computed specifier: the module (and the pg driver behind it) is optional at type-check and bundle time.
    const spec = './postgres.ts';
    return await import(spec);
  } catch (e) {
    throw new UserError(`the postgres engine is not available in this build (${(e as Error).message.split('\n')[0]})`);
  }
}

/** A database URL without its password, safe to keep in manifest.json. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '';
    return u.toString();
  } catch {
    return url.replace(/:[^:@/]*@/, '@');
  }
}
