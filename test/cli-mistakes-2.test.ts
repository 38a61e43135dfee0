// More command-line mistakes (see cli-mistakes.test.ts for the first batch): each is one
// exit-2 line found before the expensive work, and nothing already written is lost.
//   - embed --engine postgres with a database it cannot use fails before any image is decoded;
//   - an index left empty by a failed first run is re-bound to the next model, a non-empty one is not;
//   - pretrain whose last update diverges stops at that checkpoint, before the final evaluation.
import * as tf from '@tensorflow/tfjs';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../src/search/manifest.ts';
import { listCheckpoints } from '../src/train/checkpoint.ts';
import { startPgServer, type PgServer } from './pg-server.ts';
import { name, pictureFolder, tempDir, tinyCheckpoint, writePicture } from './search-fixtures.ts';
import { cli, divergedCheckpoint, spawned, STACK, type Run } from './cli-run.ts';

/** Exit 2; stderr is the `backend: ...` note, then one `selfsup: ...` line matching `pattern`. */
function expectOneLine(r: Run, pattern: RegExp, what: string): void {
  expect(r.code, `${what}\n${r.err}`).toBe(2);
  expect(r.err, what).not.toMatch(STACK);
  const lines = r.err.trim().split('\n').filter((l) => !l.startsWith('backend: '));
  expect(lines, what).toHaveLength(1);
  expect(lines[0], what).toMatch(/^selfsup: /);
  expect(lines[0], what).toMatch(pattern);
}

/** Every file of a folder, by name, as base64 (to compare before and after). */
function folderBytes(dir: string): Record<string, string> {
  return Object.fromEntries(readdirSync(dir).sort().map((f) => [f, readFileSync(join(dir, f)).toString('base64')]));
}

let runX: string; // a tiny checkpoint ("model X")
let runY: string; // another one, other weights ("model Y")
let fpX: string;
let fpY: string;
let diverged: string;
let images: string;
let tmp: string;

beforeAll(async () => {
  await tf.setBackend('cpu');
  ({ run: runX, fingerprint: fpX } = await tinyCheckpoint('mistakes2-x'));
  ({ run: runY, fingerprint: fpY } = await tinyCheckpoint('mistakes2-y'));
  diverged = await divergedCheckpoint('selfsup-mistakes2-diverged-');
  images = await pictureFolder(3, 'selfsup-mistakes2-img-');
  tmp = tempDir('selfsup-mistakes2-');
});

describe('embed --engine postgres: a database it cannot use is found before any image is decoded', () => {
  it('unreachable server, bad URL, no URL: one line naming the server, no password, nothing written', async () => {
    const secret = 'hunter2-do-not-print';
    const cases: [string[], RegExp][] = [
      [['--db', `postgres://me:${secret}@127.0.0.1:1/x`], /cannot use PostgreSQL at 127\.0\.0\.1:1\/x: connection refused .*\(from --db \/ SELFSUP_DB\)$/],
      [['--db', `mysql://me:${secret}@127.0.0.1/x`], /--db \/ SELFSUP_DB must start with postgres:\/\/ or postgresql:\/\/, got mysql:\/\//],
      [[], /--engine postgres: give the database with --db postgres:\/\/\.\.\. or SELFSUP_DB/],
      [['--db', `postgres://me:${secret}@127.0.0.1:1/x`, '--table', 'bad-name'], /table name "bad-name" is not valid/],
    ];
    const saved = process.env.SELFSUP_DB;
    delete process.env.SELFSUP_DB;
    try {
      for (const [i, [extra, pattern]] of cases.entries()) {
        const out = join(tmp, `pg-${i}`);
        const r = await cli('embed', '--checkpoint', runX, '--images', images, '--out', out, '--engine', 'postgres', ...extra, '--backend', 'cpu', '--quiet');
        expectOneLine(r, pattern, extra.join(' '));
        expect(r.err + r.out).not.toContain(secret);
        // The index folder is made when the first image is about to be embedded: it was never reached.
        expect(existsSync(out), out).toBe(false);
      }
    } finally {
      if (saved !== undefined) process.env.SELFSUP_DB = saved;
    }
  });

  it('SELFSUP_DB, through the real process: the embedding phase never starts', async () => {
    const out = join(tmp, 'pg-env');
    // The hook trace would print "selfsup-hook: phase-embed" had embedding started.
    const r = await spawned(['embed', '--checkpoint', runX, '--images', images, '--out', out, '--engine', 'postgres', '--backend', 'cpu', '--quiet'],
      { SELFSUP_DB: 'postgresql://me:s3cret-pw@127.0.0.1:1/vectors', SELFSUP_TEST_HOOKS: 'trace' });
    expectOneLine(r, /cannot use PostgreSQL at 127\.0\.0\.1:1\/vectors: connection refused/, 'SELFSUP_DB');
    expect(r.err).not.toContain('s3cret-pw');
    expect(existsSync(out)).toBe(false);
  });

  describe('on a real server', () => {
    let server: PgServer | null = null;
    let skip = '';
    let admin: pg.Client;
    beforeAll(async () => {
      try {
        server = await startPgServer();
        if (!server.hasVector) skip = `PostgreSQL ${server.version} has no pgvector`;
      } catch (e) {
        skip = (e as Error).message;
      }
      if (skip && process.env.SELFSUP_PG_REQUIRE_SERVER === '1') throw new Error(`a real server was required (SELFSUP_PG_REQUIRE_SERVER=1) but: ${skip}`);
      if (skip) { console.warn(`cli-mistakes-2 postgres cases skipped (${skip})`); return; }
      admin = new pg.Client({ connectionString: server!.url });
      await admin.connect();
      // A role that is no superuser (it may not create pgvector) and a database where pgvector is not created yet.
      await admin.query(`CREATE ROLE weak LOGIN PASSWORD 'weak-pw'`);
      await admin.query('CREATE DATABASE weakdb');
      await admin.query('CREATE EXTENSION IF NOT EXISTS vector');
      await admin.query('CREATE TABLE small (key integer PRIMARY KEY, embedding vector(8) NOT NULL)');
    }, 60_000);
    afterAll(async () => {
      await admin?.end().catch(() => {});
      server?.stop();
    });

    it('wrong password, missing database, no right to create pgvector or the table, a table of another dimension', async (ctx) => {
      if (skip) ctx.skip();
      const s = server!;
      const at = (db: string) => `127\\.0\\.0\\.1:${s.port}/${db}`;
      const weak = (db: string) => `postgres://weak:weak-pw@127.0.0.1:${s.port}/${db}`;
      const cases: [string[], RegExp][] = [
        [['--db', s.url.replace(s.password, 'wrong-pw')], new RegExp(`cannot use PostgreSQL at ${at('postgres')}: password authentication failed for user "selfsup"`)],
        [['--db', s.url.replace(/\/postgres$/, '/nope')], new RegExp(`${at('nope')}: database "nope" does not exist`)],
        [['--db', weak('weakdb')], new RegExp(`no permission to create the pgvector extension in ${at('weakdb')}`)],
        // pgvector is there (created by the superuser), but since PostgreSQL 15 only the owner creates tables in public.
        [['--db', weak('postgres')], /cannot create table selfsup_[0-9a-f]{12} in .*: permission denied for schema public; give a --table/],
        [['--db', s.url, '--table', 'small'], new RegExp(`dimension mismatch: table small in ${at('postgres')} holds 8-d vectors but the model gives 16-d`)],
      ];
      for (const [i, [extra, pattern]] of cases.entries()) {
        const out = join(tmp, `pg-server-${i}`);
        const r = await cli('embed', '--checkpoint', runX, '--images', images, '--out', out, '--engine', 'postgres', ...extra, '--backend', 'cpu', '--quiet');
        expectOneLine(r, pattern, extra.join(' '));
        expect(r.err).not.toContain(s.password);
        expect(r.err).not.toContain('weak-pw');
        expect(existsSync(out), out).toBe(false);
      }
    });

    it('the check leaves nothing in the database: a run that fails after it created no table', async (ctx) => {
      if (skip) ctx.skip();
      const tables = async () => (await admin.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`)).rows.map((r) => r.tablename);
      const before = await tables();
      const out = join(tmp, 'pg-diverged');
      const r = await cli('embed', '--checkpoint', diverged, '--images', images, '--out', out, '--engine', 'postgres', '--db', server!.url, '--table', 'never_made', '--backend', 'cpu', '--quiet');
      expect(r.code, r.err).toBe(2);
      expect(r.err).toMatch(/gives non-finite outputs/);
      expect(await tables()).toEqual(before);
      expect(before).not.toContain('never_made');
      // The same check passes for a good model, and the table is made by the run itself.
      const ok = await cli('embed', '--checkpoint', runX, '--images', images, '--out', out, '--engine', 'postgres', '--db', server!.url, '--table', 'made', '--backend', 'cpu', '--quiet');
      expect(ok.code, ok.err).toBe(0);
      expect(Number((await admin.query('SELECT count(*)::int AS n FROM made')).rows[0].n)).toBe(3);
    });
  });
});

describe('an index with no rows is re-bound to the next model; one with rows is not', () => {
  it('a first run that fails in its first batch (a diverged model) leaves no index bound to it', async () => {
    const out = join(tmp, 'idx-after-diverged');
    const bad = await cli('embed', '--checkpoint', diverged, '--images', images, '--out', out, '--engine', 'exact', '--backend', 'cpu', '--quiet');
    expectOneLine(bad, /model .*step-00000001 gives non-finite outputs/, 'diverged');
    expect(existsSync(join(out, 'manifest.json'))).toBe(false);
    // Refused before: "was built by model ...; use another --out or delete the index".
    const good = await cli('embed', '--checkpoint', runX, '--images', images, '--out', out, '--engine', 'exact', '--backend', 'cpu', '--quiet');
    expect(good.code, good.err).toBe(0);
    expect(readManifest(out)).toMatchObject({ count: 3, model: { fingerprint: fpX } });
  });

  it('an index emptied by a later run (every image gone) takes another model, saying so', async () => {
    const folder = await pictureFolder(3, 'selfsup-mistakes2-gone-');
    const out = join(tmp, 'idx-emptied');
    const first = await cli('embed', '--checkpoint', runX, '--images', folder, '--out', out, '--engine', 'hnsw', '--backend', 'cpu', '--quiet');
    expect(first.code, first.err).toBe(0);
    // Every image replaced by one that does not decode: the rerun drops the 3 rows and adds none.
    for (let i = 0; i < 3; i++) rmSync(join(folder, name(i)));
    writeFileSync(join(folder, 'broken.png'), 'not a png');
    const emptied = await cli('embed', '--checkpoint', runX, '--images', folder, '--out', out, '--engine', 'hnsw', '--backend', 'cpu', '--quiet');
    expect(emptied.code).toBe(2);
    expect(emptied.err).toMatch(/no image could be decoded \(first: broken\.png/);
    expect(readManifest(out)).toMatchObject({ count: 0, model: { fingerprint: fpX } });
    rmSync(join(folder, 'broken.png'));
    for (let i = 0; i < 2; i++) await writePicture(join(folder, name(i)), `new${i}`);
    const r = await cli('embed', '--checkpoint', runY, '--images', folder, '--out', out, '--engine', 'hnsw', '--backend', 'cpu', '--quiet');
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(new RegExp(`embed: .*idx-emptied holds no rows; re-binding it from model ${fpX.slice(0, 12)} \\(.*\\) to ${fpY.slice(0, 12)} \\(`));
    const m = readManifest(out);
    expect(m).toMatchObject({ count: 2, model: { fingerprint: fpY }, engine: { name: 'hnsw', count: 2 } });
    // The old model's graph file is gone; only the current generation's files remain.
    expect(readdirSync(out).filter((f) => !f.startsWith('.')).sort()).toEqual(['manifest.json', m.vectors.file, m.ids.file, m.engine.file!].sort());
  });

  it('an index holding rows of another model is still refused, before the database is tried, and left as it was', async () => {
    const out = join(tmp, 'idx-x');
    expect((await cli('embed', '--checkpoint', runX, '--images', images, '--out', out, '--engine', 'exact', '--backend', 'cpu', '--quiet')).code).toBe(0);
    const before = readFileSync(join(out, 'manifest.json'));
    const refused = new RegExp(`idx-x was built by model ${fpX.slice(0, 12)} \\(.*\\), not by ${fpY.slice(0, 12)} \\(.*\\); use another --out or delete the index`);
    for (const extra of [['--engine', 'exact'], ['--engine', 'postgres', '--db', 'postgres://me:pw@127.0.0.1:1/x']]) {
      const r = await cli('embed', '--checkpoint', runY, '--images', images, '--out', out, ...extra, '--backend', 'cpu', '--quiet');
      expectOneLine(r, refused, extra.join(' '));
      expect(readFileSync(join(out, 'manifest.json')).equals(before)).toBe(true);
    }
  });
});

describe('pretrain whose last update diverges', () => {
  const tiny = [
    'data.image_size=8', 'data.limit_train=16', 'data.limit_test=16', 'model.widths=[4]', 'model.blocks=[1]',
    'model.head_hidden=8', 'model.head_out=8', 'train.batch_size=16', 'train.checkpoint_every=1', 'optim.warmup_epochs=0',
    'eval.every=0', 'log.tensorboard=false',
  ].flatMap((s) => ['--set', s]);

  it('stops with the NonFiniteError line before the final k-NN, keeping the last good checkpoint', async () => {
    const runDir = join(tmp, 'run-diverged');
    const first = await cli('pretrain', '--out', runDir, ...tiny, '--set', 'train.epochs=1', '--backend', 'cpu', '--quiet');
    expect(first.code, first.err).toBe(0);
    const ckpt = join(runDir, 'ckpt', 'step-00000001');
    const good = readFileSync(join(ckpt, 'tensors.bin'));
    const metricsBefore = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8');
    const backboneBefore = folderBytes(join(runDir, 'backbone'));
    expect(Object.keys(backboneBefore).length).toBeGreaterThan(0);
    // One more epoch (one step) at lr 1e20: every weight stays finite (about 1e20 at most), the activations overflow.
    const r = await cli('pretrain', '--out', runDir, '--resume', ...tiny, '--set', 'train.epochs=2', '--set', 'optim.lr=1e20', '--backend', 'cpu', '--quiet');
    expect(r.code, r.err).toBe(2);
    const last = r.err.trim().split('\n').at(-1)!;
    expect(last).toMatch(new RegExp(`^selfsup: the weights are finite but the backbone gives non-finite outputs \\(NaN or Infinity\\) at step 2; stopped without saving it\\. Last good checkpoint: ${ckpt}\\. Try a lower optim\\.lr`));
    expect(r.err).not.toMatch(STACK);
    // No final evaluation ran: nothing was printed or logged for it; the first run's export is as it was.
    expect(r.out).toBe('');
    expect(r.err).not.toMatch(/k-NN|retrieval/);
    const added = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').slice(metricsBefore.length).split('\n').filter(Boolean).map((l) => JSON.parse(l));
    expect(added.map((m) => m.kind)).toEqual(['train']);
    expect(folderBytes(join(runDir, 'backbone'))).toEqual(backboneBefore);
    expect(listCheckpoints(join(runDir, 'ckpt'))).toEqual([ckpt]);
    expect(readFileSync(join(ckpt, 'tensors.bin')).equals(good)).toBe(true);
  });
});
