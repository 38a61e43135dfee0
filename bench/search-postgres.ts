// The postgres engine at scale: load N vectors, build the HNSW index, then recall@10 against
// brute force and query latency (single queries, batches of 100) at several ef_search values,
// plus the on-disk size of the table and the index. Also compares three ways to send a batch
// of queries: one LATERAL statement per 100 (what the engine does), one statement per query
// pipelined on one connection, and one statement per query awaited in turn.
// Run: npx tsx bench/search-postgres.ts [--n 100000] [--dim 128] [--data random|clustered]
//        [--checkpoint RUN_DIR [--cache FILE]] [--queries 500] [--m 16] [--efc 64]
//        [--ef 40,100,200] [--db postgres://...] [--json]
// --checkpoint: real embeddings, made as bench/search.ts makes them (the 10,000 digits, then
// seeded augmented views up to n; fresh views as queries), cached in FILE for reruns.
// Without --db (or SELFSUP_DB) it starts a throwaway server like the tests do (needs pgvector).
import fs from 'node:fs';
import pg from 'pg';
import { openPostgresEngine, vectorText } from '../src/search/postgres.ts';
import { Rng } from '../src/util/rng.ts';
import { startPgServer } from '../test/pg-server.ts';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
}

const N = Number(arg('n', '100000'));
let DIM = Number(arg('dim', '128'));
const CHECKPOINT = arg('checkpoint', '');
const DATA = CHECKPOINT ? 'real' : arg('data', 'random');
const NQ = Number(arg('queries', '500'));
const M = Number(arg('m', '16'));
const EFC = Number(arg('efc', '64'));
const EFS = arg('ef', '40,100,200').split(',').map(Number);
const JSON_OUT = process.argv.includes('--json');
const K = 10;
const log = (m: string) => !JSON_OUT && console.log(m);

/** Unit rows: iid Gaussian directions (the hard case for a graph index) or Gaussian clusters
 * around 1000 centres (closer to what a trained encoder gives: classes and near-duplicates). */
function makeData(rng: Rng, n: number): Float32Array {
  const x = new Float32Array(n * DIM);
  const centres = DATA === 'clustered' ? Array.from({ length: 1000 }, () => Float32Array.from({ length: DIM }, () => rng.normal())) : null;
  for (let i = 0; i < n; i++) {
    const c = centres?.[rng.int(centres.length)];
    let s = 0;
    for (let d = 0; d < DIM; d++) s += (x[i * DIM + d] = (c ? c[d] : 0) + rng.normal() * (c ? 0.6 : 1)) ** 2;
    for (let d = 0; d < DIM; d++) x[i * DIM + d] /= Math.sqrt(s);
  }
  return x;
}

/** bank ([N x dim]) and queries of real embeddings from a checkpoint, cached as float32 in `cache`. */
async function realData(): Promise<{ data: Float32Array; queries: Float32Array }> {
  const cache = arg('cache', '');
  if (cache && fs.existsSync(cache)) {
    const all = new Float32Array(new Uint8Array(fs.readFileSync(cache)).buffer);
    DIM = all.length / (N + NQ);
    return { data: all.subarray(0, N * DIM), queries: all.subarray(N * DIM) };
  }
  const tf = await import('@tensorflow/tfjs');
  const { chooseBackend } = await import('../src/cli/common.ts');
  const { backboneFromCheckpoint, recipeForCheckpoint } = await import('../src/cli/export.ts');
  const { loadEmbeddedMnist } = await import('../src/data/mnist.ts');
  const { l2normalize } = await import('../src/eval/knn.ts');
  const { buildAugmenter } = await import('../src/train/augmenter.ts');
  const { loadCheckpoint } = await import('../src/train/checkpoint.ts');
  tf.env().set('PROD', true);
  await chooseBackend('auto');
  const ck = loadCheckpoint(CHECKPOINT);
  const recipe = recipeForCheckpoint(ck, undefined, []);
  const backbone = backboneFromCheckpoint(ck, recipe);
  const { augmenter, evalTransform } = buildAugmenter(recipe, recipe.data.channels);
  const digits = loadEmbeddedMnist({ testFraction: 0, seed: 0 }).train;
  DIM = backbone.featureDim;
  const embed = async (x: import('@tensorflow/tfjs').Tensor4D) => {
    const y = tf.tidy(() => backbone.apply(x, false).reshape([x.shape[0], -1]));
    const v = (await y.data()) as Float32Array;
    y.dispose();
    x.dispose();
    return l2normalize(v, DIM);
  };
  const rng = new Rng('bench-search');
  const views = async (count: number, r: Rng) => {
    const out = new Float32Array(count * DIM);
    for (let s = 0; s < count; s += 512) {
      const batch = await digits.read(Array.from({ length: Math.min(512, count - s) }, () => r.int(digits.n)));
      const { view1, view2 } = augmenter.views(batch, r);
      view2.dispose();
      out.set(await embed(view1), s * DIM);
    }
    return out;
  };
  const data = new Float32Array(N * DIM);
  for (let s = 0; s < Math.min(N, digits.n); s += 512) {
    const b = await digits.read(Array.from({ length: Math.min(512, digits.n - s, N - s) }, (_, i) => s + i));
    data.set(await embed(evalTransform(b)), s * DIM);
  }
  if (N > digits.n) data.set(await views(N - digits.n, rng.fork('bank')), digits.n * DIM);
  const queries = await views(NQ, rng.fork('queries'));
  if (cache) fs.writeFileSync(cache, Buffer.concat([Buffer.from(data.buffer), Buffer.from(queries.buffer)]));
  return { data, queries };
}

function bruteTopK(data: Float32Array, q: Float32Array): Int32Array[] {
  const out: Int32Array[] = [];
  for (let i = 0; i < q.length / DIM; i++) {
    const best = new Float64Array(K).fill(-Infinity);
    const keys = new Int32Array(K).fill(-1);
    for (let r = 0; r < N; r++) {
      let s = 0;
      for (let d = 0; d < DIM; d++) s += q[i * DIM + d] * data[r * DIM + d];
      if (s > best[K - 1]) {
        let j = K - 1;
        while (j > 0 && best[j - 1] < s) { best[j] = best[j - 1]; keys[j] = keys[j - 1]; j--; }
        best[j] = s; keys[j] = r;
      }
    }
    out.push(keys);
  }
  return out;
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

async function timeIt(f: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

async function main() {
  let url = arg('db', process.env.SELFSUP_DB ?? '');
  const server = url ? null : await startPgServer();
  if (server) url = server.url;
  const result: Record<string, unknown> = { n: N, dim: DIM, data: DATA, queries: NQ, m: M, efConstruction: EFC, k: K };
  try {
    const rng = new Rng(`bench-search-postgres:${DATA}`);
    let t0 = performance.now();
    const { data, queries } = CHECKPOINT ? await realData() : { data: makeData(rng.fork('data'), N), queries: makeData(rng.fork('queries'), NQ) };
    result.dim = DIM;
    log(`data: ${N} x ${DIM} ${DATA} in ${round((performance.now() - t0) / 1000)} s`);
    const table = `bench_${DATA}_${N}_${DIM}_m${M}_efc${EFC}`;
    const admin = new pg.Client(url);
    await admin.connect();
    await admin.query(`DROP TABLE IF EXISTS ${table}`);

    const engine = await openPostgresEngine({ url, table, dim: DIM, create: true, hnsw: { m: M, efConstruction: EFC }, log });
    const loadMs = await timeIt(async () => {
      for (let s = 0; s < N; s += 10_000) {
        const n = Math.min(10_000, N - s);
        await engine.add(Int32Array.from({ length: n }, (_, i) => s + i), data.subarray(s * DIM, (s + n) * DIM));
      }
    });
    const indexMs = await timeIt(() => engine.save(''));
    await engine.close();
    const sizes = (await admin.query(
      `SELECT pg_relation_size($1) AS heap, pg_indexes_size($1) AS indexes, pg_total_relation_size($1) AS total, pg_relation_size($2) AS hnsw`,
      [table, `${table}_hnsw`],
    )).rows[0];
    const mb = (x: unknown) => round(Number(x) / 2 ** 20, 1);
    result.build = { loadSeconds: round(loadMs / 1000), indexSeconds: round(indexMs / 1000), totalSeconds: round((loadMs + indexMs) / 1000) };
    result.sizeMB = { table: mb(sizes.heap), hnswIndex: mb(sizes.hnsw), allIndexes: mb(sizes.indexes), total: mb(sizes.total) };
    log(`build: load ${round(loadMs / 1000)} s + index ${round(indexMs / 1000)} s; sizes MB ${JSON.stringify(result.sizeMB)}`);

    t0 = performance.now();
    const truth = bruteTopK(data, queries);
    log(`brute force for ${NQ} queries: ${round((performance.now() - t0) / 1000)} s`);
    const rows = (i: number, n: number) => queries.subarray(i * DIM, (i + n) * DIM);

    const perEf: Record<string, unknown>[] = [];
    for (const ef of EFS) {
      const e = await openPostgresEngine({ url, table, dim: DIM, create: false, hnsw: { m: M, efConstruction: EFC, efSearch: ef } });
      await e.search(rows(0, 1), K); // warm the connection and the cache
      const single: number[] = [];
      let hit = 0;
      for (let i = 0; i < NQ; i++) {
        let h: Awaited<ReturnType<typeof e.search>> | undefined;
        single.push(await timeIt(async () => { h = await e.search(rows(i, 1), K); }));
        const t = new Set(truth[i]);
        for (const key of h!.keys) if (t.has(key)) hit++;
      }
      const batch: number[] = [];
      for (let i = 0; i + 100 <= NQ; i += 100) batch.push(await timeIt(() => e.search(rows(i, 100), K)));
      await e.close();
      const r = {
        efSearch: ef,
        recallAt10: round(hit / (NQ * K), 4),
        singleMs: { p50: round(pct(single, 50)), p99: round(pct(single, 99)) },
        batch100Ms: { p50: round(pct(batch, 50)), p99: round(pct(batch, 99)), samples: batch.length },
      };
      perEf.push(r);
      log(`ef_search ${ef}: recall@10 ${r.recallAt10}, single p50 ${r.singleMs.p50} ms p99 ${r.singleMs.p99} ms, batch of 100 p50 ${r.batch100Ms.p50} ms p99 ${r.batch100Ms.p99} ms`);
    }
    result.search = perEf;

    // Batch strategies at the engine's default ef_search, same SQL per query.
    const ef = 100;
    const one = `SELECT key, embedding <=> $1::vector AS d FROM ${table} ORDER BY embedding <=> $1::vector LIMIT ${K}`;
    const piped = new pg.Client({ connectionString: url, pipeline: true });
    await piped.connect();
    await piped.query(`SET hnsw.ef_search = ${ef}`);
    await admin.query(`SET hnsw.ef_search = ${ef}`);
    const lateral = await openPostgresEngine({ url, table, dim: DIM, create: false, hnsw: { efSearch: ef } });
    const strategies: Record<string, number[]> = { lateral: [], pipelined: [], sequential: [] };
    for (let i = 0; i + 100 <= NQ; i += 100) {
      const texts = Array.from({ length: 100 }, (_, j) => vectorText(rows(i + j, 1)));
      strategies.lateral.push(await timeIt(() => lateral.search(rows(i, 100), K)));
      strategies.pipelined.push(await timeIt(() => Promise.all(texts.map((t) => piped.query(one, [t])))));
      strategies.sequential.push(await timeIt(async () => { for (const t of texts) await admin.query(one, [t]); }));
    }
    await lateral.close();
    await piped.end();
    result.batchStrategiesMs = Object.fromEntries(Object.entries(strategies).map(([k, v]) => [k, { p50: round(pct(v, 50)), p99: round(pct(v, 99)) }]));
    log(`batch of 100 at ef_search ${ef}: ${JSON.stringify(result.batchStrategiesMs)}`);

    // The --exact path: a sequential scan and sort per query.
    const exact = await openPostgresEngine({ url, table, dim: DIM, create: false });
    const ex: number[] = [];
    let exHit = 0;
    for (let i = 0; i < Math.min(20, NQ); i++) {
      let h: Awaited<ReturnType<typeof exact.search>> | undefined;
      ex.push(await timeIt(async () => { h = await exact.search(rows(i, 1), K, { exact: true }); }));
      const t = new Set(truth[i]);
      for (const key of h!.keys) if (t.has(key)) exHit++;
    }
    await exact.close();
    result.exact = { singleMs: { p50: round(pct(ex, 50)), p99: round(pct(ex, 99)) }, recallAt10: round(exHit / (ex.length * K), 4) };
    log(`exact (seq scan): ${JSON.stringify(result.exact)}`);
    if (!arg('keep', '')) await admin.query(`DROP TABLE IF EXISTS ${table}`);
    await admin.end();
  } finally {
    server?.stop();
  }
  if (JSON_OUT) console.log(JSON.stringify(result));
}

await main();
