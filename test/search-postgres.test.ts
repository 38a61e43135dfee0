// The postgres engine against real databases: a PostgreSQL server started here
// (initdb in a temp folder) when one with pgvector can be had, and always the
// in-process PGlite (PostgreSQL in WASM) with its pgvector extension, running
// the same engine code. Answers are checked against float64 brute force.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import type { IndexEngine } from '../src/search/engine.ts';
import {
  describeDbUrl,
  openPostgresEngine,
  openPostgresEngineOn,
  quoteTable,
  resolveDbUrl,
  vectorText,
  type HnswSettings,
  type SqlClient,
} from '../src/search/postgres.ts';
import { isUserError } from '../src/util/errors.ts';
import { Rng } from '../src/util/rng.ts';
import { startPgServer, type PgServer } from './pg-server.ts';

const DIM = 16;

function randomUnit(rng: Rng, n: number, dim: number): Float32Array {
  const x = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let d = 0; d < dim; d++) s += (x[i * dim + d] = rng.normal()) ** 2;
    for (let d = 0; d < dim; d++) x[i * dim + d] /= Math.sqrt(s);
  }
  return x;
}

/** Float64 cosine brute force over (keys, rows): the k best keys and scores per query. */
function bruteForce(keys: number[], rows: Float32Array, queries: Float32Array, dim: number, k: number) {
  const out: { keys: number[]; scores: number[] }[] = [];
  for (let q = 0; q < queries.length / dim; q++) {
    const sims = keys.map((key, r) => {
      let dot = 0, na = 0, nb = 0;
      for (let d = 0; d < dim; d++) {
        const a = queries[q * dim + d], b = rows[r * dim + d];
        dot += a * b; na += a * a; nb += b * b;
      }
      return { key, s: dot / Math.sqrt(na * nb) };
    });
    sims.sort((a, b) => b.s - a.s || a.key - b.key);
    out.push({ keys: sims.slice(0, k).map((x) => x.key), scores: sims.slice(0, k).map((x) => x.s) });
  }
  return out;
}

async function userError(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(isUserError(e), String(e)).toBe(true);
    const msg = (e as Error).message;
    expect(msg).not.toContain('\n');
    return msg;
  }
  throw new Error('expected a UserError, got success');
}

interface Backend {
  open(table: string, dim: number, create: boolean, hnsw?: Partial<HnswSettings>): Promise<IndexEngine>;
  /** A side channel to look at the catalog. */
  sql: SqlClient;
}

/** The behaviour every backend must show; `get` is read once beforeAll has run. */
function engineSuite(get: () => Backend) {
  const rng = new Rng('search-postgres');
  // Enough rows that the planner prefers the HNSW index to a scan and sort (at 240 it does not).
  const n = 1200;
  const data = randomUnit(rng.fork('data'), n, DIM);
  const keys = Int32Array.from({ length: n }, (_, i) => 1000 + i);
  const queries = randomUnit(rng.fork('queries'), 12, DIM);

  it('add / count / search / remove round trip, answers equal float64 brute force', async () => {
    const e = await get().open('round_trip', DIM, true, { efSearch: 400 });
    try {
      expect(e.name).toBe('postgres');
      expect(await e.count()).toBe(0);
      await e.add(keys, data);
      expect(await e.count()).toBe(n);
      // Each stored row finds itself first, score 1; 150 queries cross the 100-per-statement batching.
      const self = await e.search(data.subarray(0, 150 * DIM), 3);
      expect(self.k).toBe(3);
      for (let q = 0; q < 150; q++) {
        expect(self.keys[q * 3]).toBe(keys[q]);
        expect(self.scores[q * 3]).toBeCloseTo(1, 5);
      }
      const ref = bruteForce(Array.from(keys), data, queries, DIM, 10);
      for (const exact of [false, true]) {
        const hits = await e.search(queries, 10, { exact });
        expect(hits.k).toBe(10);
        ref.forEach((r, q) => {
          // Recall 1.0 at ef_search 400 on 1200 rows; the exact path the same list in the same order.
          expect(Array.from(hits.keys.subarray(q * 10, q * 10 + 10))).toEqual(r.keys);
          r.scores.forEach((s, j) => expect(hits.scores[q * 10 + j]).toBeCloseTo(s, 5));
        });
      }
      const gone = Int32Array.from({ length: 40 }, (_, i) => 1000 + 2 * i);
      await e.remove(gone);
      expect(await e.count()).toBe(n - 40);
      const keep = Array.from(keys).filter((k) => !gone.includes(k));
      const keepRows = new Float32Array(keep.flatMap((k) => Array.from(data.subarray((k - 1000) * DIM, (k - 999) * DIM))));
      const ref2 = bruteForce(keep, keepRows, queries, DIM, 10);
      const after = await e.search(queries, 10);
      ref2.forEach((r, q) => expect(Array.from(after.keys.subarray(q * 10, q * 10 + 10))).toEqual(r.keys));
    } finally {
      await e.close();
    }
  });

  it('k beyond what an HNSW scan can return (ef_search <= 1000): the exact path answers in full', async () => {
    const big = randomUnit(rng.fork('big'), 1100, DIM);
    const e = await get().open('big_k', DIM, true);
    try {
      await e.add(Int32Array.from({ length: 1100 }, (_, i) => i), big);
      const q = queries.subarray(0, 2 * DIM);
      const ref = bruteForce(Array.from({ length: 1100 }, (_, i) => i), big, q, DIM, 1050);
      for (const exact of [true, false]) {
        const hits = await e.search(q, 1050, { exact });
        expect(hits.k).toBe(1050);
        ref.forEach((r, i) => expect(Array.from(hits.keys.subarray(i * 1050, (i + 1) * 1050))).toEqual(r.keys));
      }
    } finally {
      await e.close();
    }
  });

  it('the planner runs a search through the HNSW index, and --exact without it', async () => {
    const { sql } = get();
    const sent: [string, unknown[] | undefined][] = [];
    const spy: SqlClient = { query: (q, p) => (sent.push([q, p]), sql.query(q, p)) };
    const e = await openPostgresEngineOn(spy, { table: 'plans', dim: DIM, create: true, where: 'test' });
    await e.add(keys, data);
    await e.save('');
    const plans: string[] = [];
    for (const exact of [false, true]) {
      sent.length = 0;
      await e.search(queries.subarray(0, 2 * DIM), 5, { exact });
      const [select, params] = sent.find(([q]) => q.includes('LATERAL'))!;
      // Replay the statement's settings, then ask the planner what it does with it.
      await sql.query('BEGIN');
      for (const [q] of sent.filter(([q]) => q.startsWith('SET'))) await sql.query(q);
      plans.push((await sql.query(`EXPLAIN ${select}`, params)).rows.map((r) => Object.values(r)[0]).join('\n'));
      await sql.query('ROLLBACK');
    }
    expect(plans[0]).toMatch(/Index Scan using plans_hnsw/);
    expect(plans[1]).not.toMatch(/Index Scan/);
    expect(plans[1]).toMatch(/Seq Scan on plans/);
    await e.close();
  });

  it('upsert replaces a vector; within one add the last row for a key wins', async () => {
    const e = await get().open('upsert', DIM, true);
    try {
      await e.add(keys.subarray(0, 50), data.subarray(0, 50 * DIM));
      const replacement = randomUnit(rng.fork('replacement'), 2, DIM);
      // Key 1003 twice: the second row must be the one kept.
      await e.add(new Int32Array([1003, 1003]), replacement);
      expect(await e.count()).toBe(50);
      const hit = await e.search(replacement.subarray(DIM), 1, { exact: true });
      expect(hit.keys[0]).toBe(1003);
      expect(hit.scores[0]).toBeCloseTo(1, 5);
      const old = await e.search(data.subarray(3 * DIM, 4 * DIM), 1, { exact: true });
      expect(old.keys[0]).not.toBe(1003);
    } finally {
      await e.close();
    }
  });

  it('k beyond the count shrinks to the count; vectors survive the text round trip bit for bit', async () => {
    const e = await get().open('small', DIM, true);
    try {
      await e.add(new Int32Array([7, 8, 9]), data.subarray(0, 3 * DIM));
      for (const exact of [false, true]) {
        const hits = await e.search(data.subarray(0, DIM), 10, { exact });
        expect(hits.k).toBe(3);
        expect(hits.keys[0]).toBe(7);
      }
      const got = await get().sql.query(`SELECT embedding::text AS v FROM small WHERE key = 8`);
      const parsed = Float32Array.from(String(got.rows[0].v).slice(1, -1).split(',').map(Number));
      expect(parsed).toEqual(data.subarray(DIM, 2 * DIM));
      // 9 significant digits name every float32 exactly, down to subnormals and up to the largest.
      const hard = new Float32Array([0.1, -2.5e-8, 1.4e-45, 3.4028234663852886e38, 1 / 3]);
      expect(vectorText(hard).startsWith('[0.100000001,-2.50000003e-8,')).toBe(true);
      expect(Float32Array.from(vectorText(hard).slice(1, -1).split(',').map(Number))).toEqual(hard);
    } finally {
      await e.close();
    }
  });

  it('a fresh table is indexed at save() (or close()); a reopened table left without its index gets it at open', async () => {
    const { sql } = get();
    const indexes = async (t: string) =>
      Number(
        (await sql.query(
          `SELECT count(*)::int AS n FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
            WHERE i.indrelid = to_regclass($1) AND a.amname = 'hnsw'`,
          [t],
        )).rows[0].n,
      );
    const e = await get().open('deferred', DIM, true);
    await e.add(keys.subarray(0, 30), data.subarray(0, 30 * DIM));
    expect(await indexes('deferred')).toBe(0);
    await e.save('/nonexistent-folder-postgres-writes-nothing');
    expect(await indexes('deferred')).toBe(1);
    await e.close();
    await sql.query('DROP INDEX deferred_hnsw');
    const again = await get().open('deferred', DIM, false);
    expect(await indexes('deferred')).toBe(1);
    expect(await again.count()).toBe(30);
    await again.close();
    // A writer that closes without save() still leaves the index behind.
    const w = await get().open('deferred_close', DIM, true);
    await w.add(keys.subarray(0, 5), data.subarray(0, 5 * DIM));
    expect(await indexes('deferred_close')).toBe(0);
    await w.close();
    expect(await indexes('deferred_close')).toBe(1);
  });

  it('bad input: dimension mismatch, missing table, bad table name, foreign table', async () => {
    const e = await get().open('dims', DIM, true);
    await e.close();
    expect(await userError(get().open('dims', 8, false))).toMatch(/dimension mismatch: table dims .* holds 16-d vectors but the index is 8-d/);
    expect(await userError(get().open('dims', 8, true))).toMatch(/dimension mismatch/);
    expect(await userError(get().open('no_such_table', DIM, false))).toMatch(/table no_such_table does not exist/);
    expect(await userError(get().open('bad-name; drop table dims', DIM, true))).toMatch(/table name .* is not valid/);
    await get().sql.query('CREATE TABLE foreign_rows (id text, v vector(16))');
    expect(await userError(get().open('foreign_rows', DIM, false))).toMatch(/not a selfsup index table/);
  });
}

const requireServer = process.env.SELFSUP_PG_REQUIRE_SERVER === '1';
let server: PgServer | null = null;
let serverSkip = '';
try {
  server = await startPgServer();
  if (!server.hasVector) {
    serverSkip = `PostgreSQL ${server.version} has no pgvector extension installed`;
    server.stop();
    server = null;
  }
} catch (e) {
  serverSkip = (e as Error).message;
}
if (serverSkip) {
  // Not silent: the reason is printed, and the PGlite suite below still runs the same tests.
  console.warn(`search-postgres: real-server suite skipped (${serverSkip}); the PGlite suite runs instead`);
}

describe.skipIf(!server && !requireServer)('postgres engine on a real PostgreSQL server', () => {
  let client: pg.Client;
  const backend: Backend = {
    open: (table, dim, create, hnsw) => openPostgresEngine({ url: server!.url, table, dim, create, hnsw }),
    sql: { query: (q, p) => client.query(q, p as unknown[]) },
  };
  beforeAll(async () => {
    if (!server) throw new Error(`a real server was required (SELFSUP_PG_REQUIRE_SERVER=1) but: ${serverSkip}`);
    // Over the unix socket (trust auth), as a second client next to the engines' TCP connections.
    client = new pg.Client({ host: server.socketDir, port: server.port, user: server.user, database: 'postgres' });
    await client.connect();
  });
  afterAll(async () => {
    await client?.end();
    server?.stop();
  });

  engineSuite(() => backend);

  it('wrong password, missing database: one line naming host:port, never the password', async () => {
    const s = server!;
    const badPw = await userError(openPostgresEngine({ url: s.url.replace(s.password, 'hunter2secret'), table: 't', dim: 4, create: true }));
    expect(badPw).toMatch(new RegExp(`127\\.0\\.0\\.1:${s.port}/postgres: password authentication failed for user "selfsup"`));
    expect(badPw).not.toContain('hunter2secret');
    const noDb = await userError(openPostgresEngine({ url: s.url.replace(/\/postgres$/, '/nope'), table: 't', dim: 4, create: true }));
    expect(noDb).toMatch(/database "nope" does not exist/);
    expect(noDb).not.toContain(s.password);
  });
});

describe('postgres engine on PGlite (PostgreSQL in WASM)', () => {
  let db: PGlite;
  const backend: Backend = {
    open: (table, dim, create, hnsw) => openPostgresEngineOn(db, { table, dim, create, hnsw, where: 'pglite' }),
    sql: { query: (q, p) => db.query(q, p) },
  };
  beforeAll(async () => {
    db = await PGlite.create({ extensions: { vector } });
  });
  afterAll(async () => {
    await db?.close();
  });

  engineSuite(() => backend);

  it('a server without pgvector: UserError saying so and how to install it', async () => {
    const bare = await PGlite.create();
    try {
      const msg = await userError(openPostgresEngineOn(bare, { table: 't', dim: 4, create: true, where: 'db.example:5432/x' }));
      expect(msg).toMatch(/pgvector is not installed on the PostgreSQL server at db\.example:5432\/x: install it/);
    } finally {
      await bare.close();
    }
  });
});

describe('connection settings', () => {
  it('--db wins over SELFSUP_DB; neither is a UserError; URLs are described without passwords', async () => {
    const saved = process.env.SELFSUP_DB;
    try {
      process.env.SELFSUP_DB = 'postgres://a@envhost/x';
      expect(resolveDbUrl('postgres://b@flaghost/y')).toBe('postgres://b@flaghost/y');
      expect(resolveDbUrl()).toBe('postgres://a@envhost/x');
      delete process.env.SELFSUP_DB;
      expect(await userError(Promise.resolve().then(() => resolveDbUrl()))).toMatch(/--db postgres:\/\/.* or set SELFSUP_DB/);
    } finally {
      if (saved === undefined) delete process.env.SELFSUP_DB;
      else process.env.SELFSUP_DB = saved;
    }
    const t = describeDbUrl('postgresql://me:p%40ss@db.internal:6543/vectors');
    expect(t).toMatchObject({ host: 'db.internal', port: 6543, database: 'vectors', user: 'me', where: 'db.internal:6543/vectors' });
    expect(describeDbUrl('postgres:///vectors?host=/run/postgresql').where).toBe('/run/postgresql:5432/vectors');
    expect(await userError(Promise.resolve().then(() => describeDbUrl('mysql://x@y/z')))).toMatch(/must start with postgres:\/\//);
    expect(quoteTable('public.Images_2').sql).toBe('"public"."Images_2"');
    for (const bad of ['', '1abc', 'a.b.c', 'x"y', 'a b']) expect(() => quoteTable(bad)).toThrow(/is not valid/);
  });

  it('a closed port: one line naming host:port and what failed, never the password', async () => {
    const closed = await closedPort();
    const refused = await userError(openPostgresEngine({ url: `postgres://selfsup:hunter2secret@127.0.0.1:${closed}/postgres`, table: 't', dim: 4, create: true }));
    expect(refused).toBe(`cannot use PostgreSQL at 127.0.0.1:${closed}/postgres: connection refused (is PostgreSQL running and listening there?) (from --db / SELFSUP_DB)`);
  });
});

async function closedPort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
