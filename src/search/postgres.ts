// The `postgres` index engine: vectors in a PostgreSQL table with the pgvector
// extension, an HNSW index with cosine distance. This is the engine for indexes
// that outgrow one machine's memory and for many concurrent clients: the
// database does the storage, replication and partitioning (see README).
//
// The engine speaks to the database through `SqlClient`, a one-method
// interface that both a `pg` client and an in-process `@electric-sql/pglite`
// instance satisfy, so the tests run the same SQL on either.
import pg from 'pg';
import type { EngineHits, IndexEngine } from './engine.ts';
import { UserError } from '../util/errors.ts';

/** The one call the engine makes. `pg.Client` (wrapped) and `PGlite` both fit. */
export interface SqlClient {
  query(sql: string, params?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
}

export interface HnswSettings {
  /** Graph degree (pgvector `m`). */
  m: number;
  /** Build-time candidate list (pgvector `ef_construction`). */
  efConstruction: number;
  /** Query-time candidate list (`hnsw.ef_search`); raised to k when k is larger. */
  efSearch: number;
}

/** Measured with bench/search-postgres.ts on 100k real 128-d embeddings (README): pgvector's own
 * defaults already give recall@10 0.999 at ef_search 40 (0.9998 at 100 for 1.6x the latency). */
export const PGVECTOR_DEFAULTS: HnswSettings = { m: 16, efConstruction: 64, efSearch: 40 };

export interface PostgresEngineOptions {
  /** postgres://user:password@host:port/database */
  url: string;
  /** Table name: an SQL identifier, optionally schema-qualified (`schema.table`). */
  table: string;
  dim: number;
  /** Create the extension and table when missing (otherwise the table must exist); the HNSW index
   * is built once the first rows are in, at save(), close() or the first search. */
  create: boolean;
  log?: (m: string) => void;
  hnsw?: Partial<HnswSettings>;
}

export interface PostgresEngineOnOptions extends Omit<PostgresEngineOptions, 'url'> {
  /** How the server is named in messages (host:port/database, never a password). */
  where: string;
  /** Releases the connection. */
  close?: () => Promise<void>;
}

/** Rows per multi-row INSERT: well under the 65535-parameter limit, ~1.5 MB of text at 128-d. */
const INSERT_BATCH = 500;
/** pgvector's upper bound on hnsw.ef_search. */
const MAX_EF_SEARCH = 1000;
/** Query vectors per LATERAL statement in a batch search. */
const SEARCH_BATCH = 100;

/** `--db` wins over SELFSUP_DB; neither is a one-line UserError. */
export function resolveDbUrl(flag?: string): string {
  const url = flag ?? process.env.SELFSUP_DB;
  if (!url) throw new UserError('the postgres engine needs a database: pass --db postgres://user:password@host:5432/database or set SELFSUP_DB');
  return url;
}

export interface DbTarget {
  host: string;
  port: number;
  database: string;
  user: string;
  /** host:port/database for messages: no password, ever. */
  where: string;
}

/** Parses a postgres:// URL far enough to name the server in messages. */
export function describeDbUrl(url: string): DbTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UserError(`--db / SELFSUP_DB is not a URL (expected postgres://user:password@host:5432/database)`);
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new UserError(`--db / SELFSUP_DB must start with postgres:// or postgresql://, got ${u.protocol}//`);
  }
  const host = u.searchParams.get('host') ?? (decodeURIComponent(u.hostname) || 'localhost');
  const port = Number(u.port || u.searchParams.get('port') || 5432);
  const database = decodeURIComponent(u.pathname.replace(/^\//, '')) || decodeURIComponent(u.username) || 'postgres';
  const user = decodeURIComponent(u.username) || process.env.PGUSER || 'postgres';
  return { host, port, database, user, where: `${host}:${port}/${database}` };
}

/** Table (or schema.table) → quoted SQL, validated by identifier rules so it can be spliced into SQL. */
export function quoteTable(table: string): { sql: string; base: string } {
  const parts = table.split('.');
  const ok = parts.length <= 2 && parts.every((p) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(p) && Buffer.byteLength(p) <= 58);
  if (!ok) {
    throw new UserError(
      `table name "${table}" is not valid: use letters, digits and _ (not starting with a digit, at most 58 characters), optionally schema.table`,
    );
  }
  return { sql: parts.map((p) => `"${p}"`).join('.'), base: parts[parts.length - 1] };
}

/** Connects with `pg` and opens the engine; connection failures become one-line UserErrors naming host:port. */
export async function openPostgresEngine(opts: PostgresEngineOptions): Promise<IndexEngine> {
  const target = describeDbUrl(opts.url);
  const { client, sql } = await connect(opts.url, target);
  try {
    return await openPostgresEngineOn(sql, { ...opts, where: target.where, close: () => client.end() });
  } catch (e) {
    await client.end().catch(() => {});
    throw e;
  }
}

/** A connected `pg` client, and the same as a SqlClient whose connection failures are one-line UserErrors. */
async function connect(url: string, target: DbTarget): Promise<{ client: pg.Client; sql: SqlClient }> {
  // Pipeline mode: a batch of queries goes out without waiting for each answer.
  const client = new pg.Client({ connectionString: url, pipeline: true, connectionTimeoutMillis: 10_000 });
  // Errors after connect (server restarts, network drops) surface on the next query; this keeps
  // the 'error' event from crashing the process in between.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (e) {
    await client.end().catch(() => {});
    throw connectionError(e, target);
  }
  const sql: SqlClient = {
    query: async (text, params) => {
      try {
        return await client.query(text, params as unknown[]);
      } catch (e) {
        if (isConnectionFailure(e)) throw connectionError(e, target);
        throw e;
      }
    },
  };
  return { client, sql };
}

/**
 * What `openPostgresEngine({ create: true })` will need, checked up front (embed runs it before
 * decoding a single image, so a bad URL, password or missing pgvector costs seconds, not an
 * embedding run): the connection, the pgvector extension, and the table (its dimension if it
 * exists, the right to create it if not). It all runs in a transaction that is rolled back:
 * nothing is left in the database.
 */
export async function checkPostgresTarget(opts: { url: string; table: string; dim: number }): Promise<void> {
  const target = describeDbUrl(opts.url);
  const table = quoteTable(opts.table);
  if (!Number.isInteger(opts.dim) || opts.dim < 1 || opts.dim > 16000) throw new UserError(`vector dimension ${opts.dim} is not supported by pgvector (1..16000)`);
  const { client, sql } = await connect(opts.url, target);
  try {
    await sql.query('BEGIN');
    await ensureExtension(sql, target.where);
    const existing = await tableDim(sql, opts.table, target.where);
    if (existing === null) {
      try {
        await sql.query(`CREATE TABLE ${table.sql} (key integer PRIMARY KEY, embedding vector(${opts.dim}) NOT NULL)`);
      } catch (e) {
        const err = e as PgError;
        if (err.code === '42501' || err.code === '3F000') {
          throw new UserError(`cannot create table ${opts.table} in ${target.where}: ${err.message}; give a --table in a schema you may create tables in, or ask for the right to`);
        }
        throw e;
      }
    } else if (existing !== opts.dim) {
      throw new UserError(`dimension mismatch: table ${opts.table} in ${target.where} holds ${existing}-d vectors but the model gives ${opts.dim}-d; give another --table or drop that one`);
    }
  } finally {
    await client.query('ROLLBACK').catch(() => {});
    await client.end().catch(() => {});
  }
}

type PgError = Error & { code?: string; errno?: number; syscall?: string };

function isConnectionFailure(e: unknown): boolean {
  const code = (e as PgError)?.code ?? '';
  return code.startsWith('08') || code === '57P01' || /^E[A-Z]+$/.test(code) || /Connection terminated|not queryable/.test(String((e as Error)?.message));
}

/** What failed, in words, for the usual ways a connection fails. */
function connectionError(e: unknown, t: DbTarget): UserError {
  const err = e as PgError;
  const code = err?.code ?? '';
  const raw = String(err?.message ?? e);
  const why: Record<string, string> = {
    ECONNREFUSED: 'connection refused (is PostgreSQL running and listening there?)',
    ENOTFOUND: `host "${t.host}" not found`,
    EAI_AGAIN: `host "${t.host}" could not be resolved`,
    ETIMEDOUT: 'connection timed out',
    EHOSTUNREACH: 'host unreachable',
    ENETUNREACH: 'network unreachable',
    ECONNRESET: 'connection reset by the server',
    ENOENT: 'no server socket there (is PostgreSQL running?)',
    '28P01': `password authentication failed for user "${t.user}"`,
    '28000': `the server refused user "${t.user}" (no pg_hba.conf entry or no such role)`,
    '3D000': `database "${t.database}" does not exist (createdb ${t.database})`,
    '57P03': 'the server is starting up or shutting down',
    '53300': 'too many connections',
  };
  let reason = why[code];
  if (!reason && /timeout/i.test(raw)) reason = 'connection timed out';
  if (!reason && /Connection terminated/i.test(raw)) reason = 'the connection closed before the server answered (host down, wrong port, TLS required, or a firewall?)';
  if (!reason && /SASL|password/i.test(raw)) reason = `authentication failed for user "${t.user}" (password missing or wrong)`;
  // Never echo a message that could carry the URL (and so the password).
  if (!reason) reason = (code ? `${code}: ` : '') + raw.replace(/postgres(ql)?:\/\/\S*/g, '<url>');
  return new UserError(`cannot use PostgreSQL at ${t.where}: ${reason} (from --db / SELFSUP_DB)`);
}

/** Opens the engine on an already-connected client (a `pg` connection or a PGlite instance). */
export async function openPostgresEngineOn(sql: SqlClient, opts: PostgresEngineOnOptions): Promise<IndexEngine> {
  const { dim, where } = opts;
  if (!Number.isInteger(dim) || dim < 1 || dim > 16000) throw new UserError(`vector dimension ${dim} is not supported by pgvector (1..16000)`);
  const table = quoteTable(opts.table);
  const hnsw = { ...PGVECTOR_DEFAULTS, ...opts.hnsw };
  const log = opts.log ?? (() => {});
  await ensureExtension(sql, where);
  const existing = await tableDim(sql, opts.table, where);
  if (existing === null) {
    if (!opts.create) {
      throw new UserError(`table ${opts.table} does not exist in ${where}; build it first with selfsup embed --engine postgres`);
    }
    await sql.query(`CREATE TABLE IF NOT EXISTS ${table.sql} (key integer PRIMARY KEY, embedding vector(${dim}) NOT NULL)`);
    log(`postgres: created table ${opts.table} (vector(${dim})) in ${where}`);
  } else if (existing !== dim) {
    throw new UserError(`dimension mismatch: table ${opts.table} in ${where} holds ${existing}-d vectors but the index is ${dim}-d`);
  }
  const engine = new PostgresEngine(sql, opts.table, dim, hnsw, log, opts.close);
  // A non-empty table without its index is a build that stopped before save(): finish it now.
  if (!(await engine.hasIndex()) && (await engine.count()) > 0) await engine.buildIndex();
  return engine;
}

async function ensureExtension(sql: SqlClient, where: string): Promise<void> {
  const have = await sql.query(`SELECT extversion FROM pg_extension WHERE extname = 'vector'`);
  let version = have.rows[0]?.extversion as string | undefined;
  if (!version) {
    try {
      await sql.query('CREATE EXTENSION IF NOT EXISTS vector');
    } catch (e) {
      const err = e as PgError;
      if (err.code === '42501') {
        throw new UserError(`no permission to create the pgvector extension in ${where}: ask a superuser to run CREATE EXTENSION vector; in that database`);
      }
      if (err.code === '58P01' || err.code === '0A000' || /extension control file|is not available/.test(err.message)) {
        throw new UserError(
          `pgvector is not installed on the PostgreSQL server at ${where}: install it on the server (apt-get install postgresql-<version>-pgvector from apt.postgresql.org, or build https://github.com/pgvector/pgvector with make && make install) and retry`,
        );
      }
      throw e;
    }
    version = (await sql.query(`SELECT extversion FROM pg_extension WHERE extname = 'vector'`)).rows[0]?.extversion as string;
  }
  const [major, minor] = String(version).split('.').map(Number);
  if (major === 0 && minor < 5) {
    throw new UserError(`pgvector ${version} on ${where} has no HNSW index (needs 0.5.0 or newer): ALTER EXTENSION vector UPDATE after upgrading it`);
  }
}

/** The table's vector dimension, or null when there is no such table. */
async function tableDim(sql: SqlClient, table: string, where: string): Promise<number | null> {
  const quoted = quoteTable(table).sql;
  const rel = await sql.query(`SELECT to_regclass($1)::text AS rel`, [quoted]);
  if (rel.rows[0]?.rel == null) return null;
  const cols = await sql.query(
    `SELECT attname::text AS name, format_type(atttypid, atttypmod) AS type, atttypmod AS mod
       FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped`,
    [quoted],
  );
  const byName = new Map(cols.rows.map((r) => [r.name as string, r]));
  const emb = byName.get('embedding');
  if (byName.get('key')?.type !== 'integer' || !emb || !String(emb.type).startsWith('vector')) {
    throw new UserError(`table ${table} in ${where} is not a selfsup index table (it needs key integer primary key, embedding vector(dim)); choose another table name`);
  }
  const mod = Number(emb.mod);
  if (!(mod > 0)) throw new UserError(`table ${table} in ${where}: column embedding is a vector without a fixed dimension; recreate it as vector(dim)`);
  return mod;
}

async function hasHnswIndex(sql: SqlClient, table: string): Promise<boolean> {
  const r = await sql.query(
    `SELECT count(*)::int AS n FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
      WHERE i.indrelid = to_regclass($1) AND a.amname = 'hnsw'`,
    [quoteTable(table).sql],
  );
  return Number(r.rows[0]?.n) > 0;
}

/** pgvector's text form. 9 significant digits round-trip any float32 exactly, in ~2/3 of the
 * characters (and time) of JSON's shortest-double form of the same values. */
export function vectorText(v: Float32Array): string {
  let s = '[';
  for (let i = 0; i < v.length; i++) s += (i ? ',' : '') + v[i].toPrecision(9);
  return s + ']';
}

/** A Postgres array literal of vector texts: one parameter carries a whole batch of queries. */
function vectorArrayText(rows: Float32Array[]): string {
  return `{${rows.map((r) => `"${vectorText(r)}"`).join(',')}}`;
}

type Result = { rows: Record<string, unknown>[] };

class PostgresEngine implements IndexEngine {
  readonly name = 'postgres' as const;
  private readonly table: string;
  private readonly base: string;
  /** Whether the HNSW index exists; null = not looked yet. */
  private indexed: boolean | null = null;
  /** The session's hnsw.ef_search as last set here. */
  private efSession = -1;
  /** Rows were added through this engine (so close() finishes the index if save() was not called). */
  private added = false;

  constructor(
    private readonly sql: SqlClient,
    private readonly tableName: string,
    readonly dim: number,
    private readonly hnsw: HnswSettings,
    private readonly log: (m: string) => void,
    private readonly closeFn?: () => Promise<void>,
  ) {
    const q = quoteTable(tableName);
    this.table = q.sql;
    this.base = q.base;
  }

  async count(): Promise<number> {
    const r = await this.sql.query(`SELECT count(*)::int AS n FROM ${this.table}`);
    return Number(r.rows[0].n);
  }

  async hasIndex(): Promise<boolean> {
    this.indexed ??= await hasHnswIndex(this.sql, this.tableName);
    return this.indexed;
  }

  /** Builds the HNSW graph over the rows already there: ~3x faster than growing it row by row
   * (20k x 128-d: 10 s against 35 s), so a fresh table is loaded first and indexed at save(). */
  async buildIndex(): Promise<void> {
    if (await this.hasIndex()) return;
    const n = await this.count();
    // The graph must fit in maintenance_work_mem or the build slows down a lot: vector + 2m links + overhead per row.
    const needMb = Math.ceil((n * (this.dim * 4 + this.hnsw.m * 2 * 8 + 96) * 1.25) / 2 ** 20);
    const haveMb = Number((await this.sql.query(`SELECT setting::bigint * 1024 / 1048576 AS mb FROM pg_settings WHERE name = 'maintenance_work_mem'`)).rows[0]?.mb);
    const t0 = Date.now();
    await this.transaction(() => [
      ...(needMb > haveMb ? [`SET LOCAL maintenance_work_mem = '${Math.min(needMb, 8192)}MB'`] : []),
      `CREATE INDEX IF NOT EXISTS "${this.base}_hnsw" ON ${this.table} USING hnsw (embedding vector_cosine_ops) WITH (m = ${this.hnsw.m}, ef_construction = ${this.hnsw.efConstruction})`,
    ]);
    this.indexed = true;
    this.log(`postgres: HNSW index (m=${this.hnsw.m}, ef_construction=${this.hnsw.efConstruction}) over ${n} rows of ${this.tableName} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }

  async add(keys: Int32Array, vectors: Float32Array): Promise<void> {
    if (vectors.length !== keys.length * this.dim) {
      throw new Error(`add: ${keys.length} keys need ${keys.length * this.dim} floats, got ${vectors.length}`);
    }
    // ON CONFLICT cannot touch one row twice in a statement: the last row for a key wins, as in the interface.
    const last = new Map<number, number>();
    keys.forEach((k, i) => last.set(k, i));
    const rows = [...last.values()].sort((a, b) => a - b);
    const statements: [string, unknown[]][] = [];
    for (let s = 0; s < rows.length; s += INSERT_BATCH) {
      const params: unknown[] = [];
      const values = rows.slice(s, s + INSERT_BATCH).map((i, j) => {
        params.push(keys[i], vectorText(vectors.subarray(i * this.dim, (i + 1) * this.dim)));
        return `($${2 * j + 1}::int, $${2 * j + 2}::vector)`;
      });
      statements.push([
        `INSERT INTO ${this.table} (key, embedding) VALUES ${values.join(',')} ON CONFLICT (key) DO UPDATE SET embedding = EXCLUDED.embedding`,
        params,
      ]);
    }
    // One transaction: a killed run leaves all of this add or none of it.
    await this.transaction(() => statements);
    this.added = true;
  }

  async remove(keys: Int32Array): Promise<void> {
    if (keys.length === 0) return;
    await this.sql.query(`DELETE FROM ${this.table} WHERE key = ANY($1::int[])`, [`{${Array.from(keys).join(',')}}`]);
  }

  async search(queries: Float32Array, k: number, opts: { exact?: boolean } = {}): Promise<EngineHits> {
    if (queries.length % this.dim !== 0) throw new Error(`search: ${queries.length} floats is not a whole number of ${this.dim}-d rows`);
    if (!Number.isInteger(k) || k < 1) throw new UserError(`-k must be a positive integer, got ${k}`);
    const nq = queries.length / this.dim;
    // An HNSW scan returns at most ef_search rows (<= 1000): beyond that only a full scan answers.
    const exact = opts.exact || k > MAX_EF_SEARCH;
    if (!exact) await this.buildIndex();
    const statements: [string, unknown[]][] = [];
    for (let s = 0; s < nq; s += SEARCH_BATCH) {
      const rows = Array.from({ length: Math.min(SEARCH_BATCH, nq - s) }, (_, i) => queries.subarray((s + i) * this.dim, (s + i + 1) * this.dim));
      // One statement answers a batch: a LATERAL index scan per query vector (see bench/search-postgres.ts).
      statements.push([
        `SELECT q.i::int - 1 + ${s} AS q, n.key, n.d FROM unnest($1::vector[]) WITH ORDINALITY AS q(v, i)
           CROSS JOIN LATERAL (SELECT key, embedding <=> q.v AS d FROM ${this.table} ORDER BY embedding <=> q.v LIMIT ${k}) n`,
        [vectorArrayText(rows)],
      ]);
    }
    let results: Result[];
    if (exact) {
      // HNSW has no bitmap scan, so without index scans the planner scans and sorts every row.
      results = await this.transaction(() => [`SET LOCAL enable_indexscan = off`, ...statements]);
    } else {
      // Session-level: this engine owns its connection. ef_search below k would cut the answer short.
      const ef = Math.min(MAX_EF_SEARCH, Math.max(this.hnsw.efSearch, k));
      const pre = ef !== this.efSession ? [this.sql.query(`SET hnsw.ef_search = ${ef}`)] : [];
      this.efSession = ef;
      results = (await Promise.all([...pre, ...statements.map(([q, p]) => this.sql.query(q, p))])).slice(pre.length);
    }
    return packHits(results.flatMap((r) => r.rows.map((x) => ({ q: Number(x.q), key: Number(x.key), d: Number(x.d) }))), nq, k);
  }

  async save(): Promise<void> {
    // The rows are committed as they are added; what is left is the index over a freshly loaded table.
    await this.buildIndex();
  }

  async close(): Promise<void> {
    // A writer that never called save() still leaves an indexed table; if this fails (the
    // connection is gone), the next open or search builds it instead.
    if (this.added && this.indexed !== true) await this.buildIndex().catch((e) => this.log(`postgres: index not built yet (${(e as Error).message})`));
    await this.closeFn?.();
  }

  /** Sends BEGIN, the statements and COMMIT back to back (one round trip on a pipelined
   * connection) and returns the statements' results; ROLLBACK on any failure. */
  private async transaction(body: () => (string | [string, unknown[]])[]): Promise<Result[]> {
    const sent = ['BEGIN', ...body(), 'COMMIT'].map((st) => (typeof st === 'string' ? this.sql.query(st) : this.sql.query(st[0], st[1])));
    try {
      return (await Promise.all(sent)).slice(1, -1);
    } catch (e) {
      await Promise.allSettled(sent);
      await this.sql.query('ROLLBACK').catch(() => {});
      throw e;
    }
  }
}

/** Rows (query, key, distance) → best-first hits; k shrinks to the most any query got (min(k, count)). */
function packHits(rows: { q: number; key: number; d: number }[], nq: number, k: number): EngineHits {
  const per: { key: number; d: number }[][] = Array.from({ length: nq }, () => []);
  for (const r of rows) per[r.q].push(r);
  const kOut = Math.min(k, per.reduce((m, p) => Math.max(m, p.length), 0));
  const keys = new Int32Array(nq * kOut).fill(-1);
  const scores = new Float32Array(nq * kOut).fill(-Infinity);
  per.forEach((p, q) => {
    p.sort((a, b) => a.d - b.d || a.key - b.key);
    for (let j = 0; j < Math.min(kOut, p.length); j++) {
      keys[q * kOut + j] = p[j].key;
      scores[q * kOut + j] = 1 - p[j].d;
    }
  });
  return { k: kOut, keys, scores };
}
