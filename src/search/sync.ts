// Brings an index folder's search engine up to date with its committed rows
// (the last step of `selfsup embed`). The manifest's engine.count says how many
// leading rows the engine already holds, so an interrupted sync resumes, and a
// compaction (which renumbers rows) resets it to 0.
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { Progress } from '../log/progress.ts';
import { UserError } from '../util/errors.ts';
import type { EngineName, IndexEngine } from './engine.ts';
import { HnswEngine, type HnswConfig } from './hnsw.ts';
import { readVectors, syncDir, type EngineState } from './manifest.ts';
import { checkPostgres, openPostgres, redactUrl } from './open.ts';
import type { IndexStore } from './store.ts';

export interface SyncOptions {
  engine: EngineName;
  hnsw: HnswConfig;
  /** Threads inserting into the graph (HnswOptions.threads); not saved with the index. */
  indexThreads?: number;
  db?: string;
  table?: string;
  log: (m: string) => void;
  quiet: boolean;
}

const CHUNK = 8192;

export async function syncEngine(store: IndexStore, o: SyncOptions): Promise<void> {
  const m = store.manifest;
  const e = m.engine;
  if (o.engine === 'exact') {
    if (e.name !== 'exact' || e.count !== m.count) store.commitEngine({ name: 'exact', count: m.count, extent: m.count });
    return;
  }
  if (o.engine === 'hnsw') return syncHnsw(store, o);
  return syncPostgres(store, o);
}

async function syncHnsw(store: IndexStore, o: SyncOptions): Promise<void> {
  const m = store.manifest;
  const e = m.engine;
  const same = e.name === 'hnsw' && !!e.file && e.connectivity === o.hnsw.connectivity
    && e.expansion_add === o.hnsw.expansion_add && e.expansion_search === o.hnsw.expansion_search;
  if (same && e.count === m.count && e.extent === m.count) return;
  // Rows only appended since the graph was saved: add them to it; otherwise build anew.
  const grow = same && e.count > 0 && e.extent === e.count;
  const engine = grow ? HnswEngine.open(path.join(store.dir, e.file!), m.dim, { ...o.hnsw, threads: o.indexThreads, view: false })
    : HnswEngine.create(m.dim, { ...o.hnsw, threads: o.indexThreads });
  const from = grow ? e.count : 0;
  o.log(grow ? `hnsw: adding ${m.count - from} vectors to the saved graph of ${from}` : `hnsw: building a graph of ${m.count} vectors`);
  await addRows(store, engine, from, 'hnsw', o);
  engine.file = store.nextGraphFile();
  await engine.save(store.dir);
  const fd = fs.openSync(path.join(store.dir, engine.file), 'r');
  try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
  syncDir(store.dir);
  const bytes = fs.statSync(path.join(store.dir, engine.file)).size;
  store.commitEngine({ name: 'hnsw', count: m.count, extent: m.count, file: engine.file, bytes, ...o.hnsw });
  await engine.close();
}

/**
 * Checks up front what the engine's sync will need (postgres: the URL, the connection, pgvector,
 * the table), so a mistake there is found before the images are decoded and embedded rather than
 * after. `engine` is the index's current engine state, if the folder already holds an index.
 */
export async function preflightEngine(dir: string, engine: EngineState | undefined, dim: number, o: Pick<SyncOptions, 'engine' | 'db' | 'table'>): Promise<void> {
  if (o.engine !== 'postgres') return;
  await checkPostgres({ url: postgresUrl(o.db), table: postgresTable(dir, engine, o.table), dim });
}

function postgresUrl(db: string | undefined): string {
  const url = db ?? process.env.SELFSUP_DB;
  if (!url) throw new UserError('--engine postgres: give the database with --db postgres://... or SELFSUP_DB');
  return url;
}

/** --table, else the table the index already uses, else one named after the folder. */
function postgresTable(dir: string, e: EngineState | undefined, table: string | undefined): string {
  return table ?? (e?.name === 'postgres' && e.table ? e.table : defaultTable(dir));
}

async function syncPostgres(store: IndexStore, o: SyncOptions): Promise<void> {
  const m = store.manifest;
  const e = m.engine;
  const url = postgresUrl(o.db);
  const table = postgresTable(store.dir, e, o.table);
  const continuing = e.name === 'postgres' && e.table === table;
  const engine = await openPostgres({ url, table, dim: m.dim, create: true });
  try {
    let extent = continuing ? e.extent : 0;
    // Keys past the committed rows are stale (rows were dropped): remove them first.
    if (extent > m.count) {
      await engine.remove(Int32Array.from({ length: extent - m.count }, (_, i) => m.count + i));
      extent = m.count;
    }
    const from = continuing ? e.count : 0;
    store.commitEngine({ name: 'postgres', count: from, extent: Math.max(extent, from), table, db: redactUrl(url) });
    await addRows(store, engine, from, 'postgres', o, (upTo) => {
      store.commitEngine({ name: 'postgres', count: upTo, extent: Math.max(extent, upTo), table, db: redactUrl(url) });
    });
    // Builds the HNSW index once the rows are loaded (faster than growing it row by row).
    await engine.save(store.dir);
  } finally {
    await engine.close();
  }
}

/** Adds rows [from, count) in chunks, with a progress bar; `onChunk` may commit progress. */
async function addRows(store: IndexStore, engine: IndexEngine, from: number, title: string, o: SyncOptions, onChunk?: (upTo: number) => void): Promise<void> {
  const m = store.manifest;
  if (from >= m.count) return;
  const rows = readVectors(store.dir, m);
  const bar = new Progress({ title, total: m.count - from, unit: 'vectors', quiet: o.quiet });
  bar.start();
  for (let s = from; s < m.count; s += CHUNK) {
    const n = Math.min(CHUNK, m.count - s);
    await engine.add(Int32Array.from({ length: n }, (_, i) => s + i), rows.subarray(s * m.dim, (s + n) * m.dim));
    bar.update(s + n - from, n);
    onChunk?.(s + n);
  }
  bar.stop();
}

/** A table name per index folder: selfsup_ + a hash of its absolute path. */
function defaultTable(dir: string): string {
  return `selfsup_${createHash('sha256').update(path.resolve(dir)).digest('hex').slice(0, 12)}`;
}
