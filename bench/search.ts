// Search benchmark: 100k real 128-d embeddings (the 10,000 embedded MNIST digits
// plus seeded augmented views of them, through a trained checkpoint's backbone),
// indexed with hnsw (usearch) at its defaults and compared with exact brute force:
// recall@10, single-query and batch-of-100 latency p50 / p99, build time, index
// size, RSS of a process that opens the index and searches; embed img/s through
// the whole `embed` pipeline; and the dedup threshold's margin (planted near-
// duplicates vs distinct images).
// Run: npx tsx bench/search.ts --checkpoint RUN_DIR [--n 100000] [--queries 1000] [--json]
//      npx tsx bench/search.ts --checkpoint RUN_DIR --dedup-only   (just the dedup margin)
//   (RUN_DIR from e.g. `selfsup pretrain --set train.epochs=3 --set 'model.widths=[16,32,128]' --out RUN_DIR`)
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { chooseBackend } from '../src/cli/common.ts';
import { backboneFromCheckpoint, recipeForCheckpoint } from '../src/cli/export.ts';
import { loadEmbeddedMnist } from '../src/data/mnist.ts';
import { weightsHash } from '../src/eval/guard.ts';
import { l2normalize } from '../src/eval/knn.ts';
import { DEFAULT_DEDUP_THRESHOLD, findDuplicates } from '../src/search/dedup.ts';
import { embedImages } from '../src/search/embed.ts';
import { ExactEngine } from '../src/search/exact.ts';
import { HNSW_DEFAULTS, HnswEngine, type HnswConfig } from '../src/search/hnsw.ts';
import { INDEX_FORMAT, INDEX_VERSION, type IdEntry } from '../src/search/manifest.ts';
import { openIndex } from '../src/search/open.ts';
import { IndexStore } from '../src/search/store.ts';
import { syncEngine } from '../src/search/sync.ts';
import { buildAugmenter } from '../src/train/augmenter.ts';
import { loadCheckpoint } from '../src/train/checkpoint.ts';
import { Rng } from '../src/util/rng.ts';

tf.env().set('PROD', true);

const arg = (name: string, dflt?: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const K = 10;
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;
const pct = (a: number[], p: number) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const mib = (b: number) => +(b / 2 ** 20).toFixed(1);

/** Child mode: open an index folder (hnsw memory-mapped), search, report RSS. */
async function child(dir: string, queriesFile: string): Promise<void> {
  const q = new Float32Array(fs.readFileSync(queriesFile).buffer.slice(0));
  const rss0 = process.memoryUsage().rss;
  const ix = await openIndex(dir);
  const rssOpen = process.memoryUsage().rss;
  for (let i = 0; i < q.length / ix.dim; i++) await ix.hits(q.subarray(i * ix.dim, (i + 1) * ix.dim), K);
  process.stdout.write(JSON.stringify({ rss_start_mib: mib(rss0), rss_open_mib: mib(rssOpen), rss_after_search_mib: mib(process.memoryUsage().rss) }) + '\n');
}

async function main(): Promise<void> {
  if (arg('child')) return child(arg('child')!, arg('queries-file')!);
  const ckPath = arg('checkpoint');
  if (!ckPath) throw new Error('usage: npx tsx bench/search.ts --checkpoint RUN_DIR [--n 100000] [--queries 1000] [--json] [--dedup-only]');
  if (process.argv.includes('--dedup-only')) {
    // Just the dedup threshold's margin (section 7), for choosing DEFAULT_DEDUP_THRESHOLD.
    await chooseBackend('auto');
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'selfsup-bench-dedup-'));
    const digits = loadEmbeddedMnist({ testFraction: 0, seed: 0 }).train;
    const b = await digits.read(Array.from({ length: 300 }, (_, i) => i));
    const dedup = { default_threshold: DEFAULT_DEDUP_THRESHOLD, pictures: await dedupMargin(ckPath, work, 'pictures'), digits: await dedupMargin(ckPath, work, 'digits', b) };
    process.stdout.write(JSON.stringify({ dedup }) + '\n');
    fs.rmSync(work, { recursive: true, force: true });
    return;
  }
  const n = Number(arg('n', '100000'));
  const nq = Number(arg('queries', '1000'));
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'selfsup-bench-search-'));
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const backend = (await chooseBackend('auto')).chosen;
  log(`backend ${backend}; ${os.cpus().length} CPUs (${os.cpus()[0].model}); load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);

  const ck = loadCheckpoint(ckPath);
  const recipe = recipeForCheckpoint(ck, undefined, []);
  const backbone = backboneFromCheckpoint(ck, recipe);
  const { augmenter, evalTransform } = buildAugmenter(recipe, recipe.data.channels);
  const digits = loadEmbeddedMnist({ testFraction: 0, seed: 0 }).train;
  const dim = backbone.featureDim;
  log(`checkpoint ${ck.path} (step ${ck.meta.step}), feature dim ${dim}, ${digits.n} digits`);

  // 1. Vectors: the digits once as they are, then seeded augmented views until n; queries are fresh views.
  const embedTensor = async (x: tf.Tensor4D) => {
    const y = tf.tidy(() => backbone.apply(x, false).reshape([x.shape[0], -1]));
    const v = (await y.data()) as Float32Array;
    y.dispose();
    return l2normalize(v, dim);
  };
  const rng = new Rng('bench-search');
  const viewsOf = async (count: number, r: Rng): Promise<Float32Array> => {
    const out = new Float32Array(count * dim);
    for (let s = 0; s < count; s += 512) {
      const m = Math.min(512, count - s);
      const batch = await digits.read(Array.from({ length: m }, () => r.int(digits.n)));
      const { view1, view2 } = augmenter.views(batch, r);
      view2.dispose();
      out.set(await embedTensor(view1), s * dim);
      view1.dispose();
    }
    return out;
  };
  const t0 = process.hrtime.bigint();
  const bank = new Float32Array(n * dim);
  for (let s = 0; s < Math.min(n, digits.n); s += 512) {
    const m = Math.min(512, digits.n - s, n - s);
    const b = await digits.read(Array.from({ length: m }, (_, i) => s + i));
    const x = evalTransform(b);
    bank.set(await embedTensor(x), s * dim);
    x.dispose();
  }
  if (n > digits.n) bank.set(await viewsOf(n - digits.n, rng.fork('bank')), digits.n * dim);
  const queries = await viewsOf(nq, rng.fork('queries'));
  const embedSecs = ms(t0) / 1000;
  log(`embedded ${n + nq} views in ${embedSecs.toFixed(1)} s (${((n + nq) / embedSecs).toFixed(0)} img/s, backbone only)`);

  // 2. An index folder through the real writer; the hnsw build is the engine sync.
  const dir = path.join(work, 'index');
  const fingerprint = await weightsHash(backbone);
  const store = IndexStore.open(dir, () => ({
    format: INDEX_FORMAT, version: INDEX_VERSION, dim, count: 0, generation: 0, updated: '',
    model: { fingerprint, checkpoint: ck.path },
    preprocessing: { size: recipe.data.image_size, channels: recipe.data.channels, mean: [...augmenter.mean], std: [...augmenter.std], resize: 'cover-centre-crop' },
    source: { kind: 'recipe', recipe: 'bench', splits: ['bench'] },
    vectors: { file: 'vectors.0.f32', dtype: 'float32', byte_order: 'little', normalized: true, bytes: 0 },
    ids: { file: 'ids.0.jsonl', bytes: 0 }, engine: { name: 'hnsw', count: 0, extent: 0 },
  }));
  for (let s = 0; s < n; s += 10_000) {
    const m = Math.min(10_000, n - s);
    const ids: IdEntry[] = Array.from({ length: m }, (_, i) => ({ id: `bench/${s + i}`, size: 0, mtime: 0, sha256: String(s + i) }));
    store.append(ids, bank.subarray(s * dim, (s + m) * dim));
  }
  const tb = process.hrtime.bigint();
  await syncEngine(store, { engine: 'hnsw', hnsw: HNSW_DEFAULTS, log, quiet: true });
  const buildSecs = ms(tb) / 1000;
  const m = store.manifest;
  store.close();
  const size = (f: string) => fs.statSync(path.join(dir, f)).size;
  log(`hnsw build (connectivity ${HNSW_DEFAULTS.connectivity}, expansion_add ${HNSW_DEFAULTS.expansion_add}): ${buildSecs.toFixed(1)} s`);

  // 3. Ground truth and recall.
  const exact = new ExactEngine(dim, bank);
  const te = process.hrtime.bigint();
  const truth = await exact.search(queries, K);
  const exactMsPerQuery = ms(te) / nq;
  const recall = (keys: Int32Array, k: number) => {
    let hit = 0;
    for (let q = 0; q < nq; q++) {
      const want = new Set(truth.keys.subarray(q * K, (q + 1) * K));
      for (let j = 0; j < K; j++) if (want.has(keys[q * k + j])) hit++;
    }
    return hit / (nq * K);
  };
  const graph = path.join(dir, m.engine.file!);
  const sweep: { expansion_search: number; recall: number; p50_ms: number }[] = [];
  for (const ef of [16, 32, 64, 128, 256]) {
    const e = HnswEngine.open(graph, dim, { ...HNSW_DEFAULTS, expansion_search: ef, view: true });
    const h = await e.search(queries, K);
    const lat: number[] = [];
    for (let q = 0; q < Math.min(nq, 300); q++) { const t = process.hrtime.bigint(); await e.search(queries.subarray(q * dim, (q + 1) * dim), K); lat.push(ms(t)); }
    sweep.push({ expansion_search: ef, recall: +recall(h.keys, h.k).toFixed(4), p50_ms: +pct(lat, 0.5).toFixed(3) });
    log(`  expansion_search ${ef}: recall@10 ${sweep[sweep.length - 1].recall}, single-query p50 ${sweep[sweep.length - 1].p50_ms} ms`);
  }

  // 3b. The same graph built by every core (--index-threads 0): faster, not reproducible.
  const tp = process.hrtime.bigint();
  const par = HnswEngine.create(dim, { ...HNSW_DEFAULTS, threads: 0 });
  await par.add(Int32Array.from({ length: n }, (_, i) => i), bank);
  const parallelBuild = { threads: os.availableParallelism(), build_s: +(ms(tp) / 1000).toFixed(2), recall_at_10: 0 };
  { const h = await par.search(queries, K); parallelBuild.recall_at_10 = +recall(h.keys, h.k).toFixed(4); }
  log(`hnsw build on ${parallelBuild.threads} threads: ${parallelBuild.build_s} s, recall@10 ${parallelBuild.recall_at_10}`);

  // 4. Latency at the defaults, through openIndex (memory-mapped graph).
  const ix = await openIndex(dir);
  const single: number[] = [];
  for (let q = 0; q < nq; q++) { const t = process.hrtime.bigint(); await ix.hits(queries.subarray(q * dim, (q + 1) * dim), K); single.push(ms(t)); }
  const batches: number[] = [];
  for (let rep = 0; rep < 3; rep++) {
    for (let s = 0; s + 100 <= nq; s += 100) { const t = process.hrtime.bigint(); await ix.hits(queries.subarray(s * dim, (s + 100) * dim), K); batches.push(ms(t)); }
  }
  const exactBatch: number[] = [];
  for (let s = 0; s + 100 <= Math.min(nq, 500); s += 100) { const t = process.hrtime.bigint(); await ix.hits(queries.subarray(s * dim, (s + 100) * dim), K, { exact: true }); exactBatch.push(ms(t)); }
  const defaults = await ix.hits(queries, K);
  await ix.close();

  // 5. RSS of a fresh process that opens the index and searches.
  const qf = path.join(work, 'queries.f32');
  fs.writeFileSync(qf, Buffer.from(queries.buffer));
  const c = spawnSync(process.execPath, ['--import', 'tsx', process.argv[1], '--child', dir, '--queries-file', qf], { encoding: 'utf8' });
  const rss = c.status === 0 ? JSON.parse(c.stdout.trim().split('\n').pop()!) : { error: c.stderr.slice(-300) };

  // 6. The whole embed pipeline (PNG decode, hash, backbone, commits, graph) on 2,000 digit files.
  const imgDir = path.join(work, 'digits');
  fs.mkdirSync(imgDir);
  const b = await digits.read(Array.from({ length: 2000 }, (_, i) => i));
  for (let i = 0; i < 2000; i++) {
    await sharp(Buffer.from(b.data.subarray(i * 784, (i + 1) * 784)), { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(path.join(imgDir, `d${String(i).padStart(4, '0')}.png`));
  }
  const er = await embedImages({ checkpoint: ckPath, images: imgDir, out: path.join(work, 'digits-index'), quiet: true, log: () => {} });

  // 7. Dedup threshold margin: 60 synthetic pictures with planted near-duplicates, and 300 digits with planted ones.
  const dedupSynthetic = await dedupMargin(ckPath, work, 'pictures');
  const dedupDigits = await dedupMargin(ckPath, work, 'digits', b);

  const result = {
    n, dim, queries: nq, backend, machine: `${os.cpus().length} x ${os.cpus()[0].model}`, load_average: os.loadavg().map((x) => +x.toFixed(2)),
    embed_backbone_img_per_s: +((n + nq) / embedSecs).toFixed(0),
    embed_pipeline: { images: er.added, img_per_s: +er.images_per_sec.toFixed(1), seconds: er.seconds },
    hnsw: {
      ...HNSW_DEFAULTS, build_s: +buildSecs.toFixed(2), recall_at_10: +recall(defaults.keys, defaults.k).toFixed(4),
      single_ms: { p50: +pct(single, 0.5).toFixed(3), p99: +pct(single, 0.99).toFixed(3) },
      batch100_ms: { p50: +pct(batches, 0.5).toFixed(2), p99: +pct(batches, 0.99).toFixed(2) },
      sweep, parallel_build: parallelBuild,
    },
    exact: { ms_per_query_in_batch_of_1000: +exactMsPerQuery.toFixed(3), batch100_ms_p50: +pct(exactBatch, 0.5).toFixed(1) },
    disk_mib: { vectors: mib(size(m.vectors.file)), ids: mib(size(m.ids.file)), hnsw: mib(size(m.engine.file!)) },
    rss,
    dedup: { default_threshold: DEFAULT_DEDUP_THRESHOLD, pictures: dedupSynthetic, digits: dedupDigits },
  };
  if (process.argv.includes('--json')) process.stdout.write(JSON.stringify(result) + '\n');
  else process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  fs.rmSync(work, { recursive: true, force: true });
}

/** Lowest cosine within planted near-duplicate sets vs highest between distinct images, and dedup's groups at the default. */
async function dedupMargin(ckPath: string, work: string, kind: 'pictures' | 'digits', digits?: { data: Uint8Array }) {
  const dir = path.join(work, `dedup-${kind}`);
  fs.mkdirSync(dir);
  const count = kind === 'pictures' ? 60 : 300;
  const S = 64;
  for (let i = 0; i < count; i++) {
    const file = path.join(dir, `i${String(i).padStart(3, '0')}.png`);
    if (kind === 'digits') {
      await sharp(Buffer.from(digits!.data.subarray(i * 784, (i + 1) * 784)), { raw: { width: 28, height: 28, channels: 1 } }).resize(S, S).png().toFile(file);
    } else {
      const r = new Rng(`pic${i}`);
      const px = Buffer.alloc(S * S * 3);
      const bg = [r.int(256), r.int(256), r.int(256)];
      for (let p = 0; p < S * S; p++) for (let ch = 0; ch < 3; ch++) px[p * 3 + ch] = bg[ch];
      for (let k = 0; k < 4; k++) {
        const x0 = r.int(S - 8); const y0 = r.int(S - 8); const w = 6 + r.int(S / 2); const h = 6 + r.int(S / 2);
        const col = [r.int(256), r.int(256), r.int(256)];
        for (let y = y0; y < Math.min(S, y0 + h); y++) for (let x = x0; x < Math.min(S, x0 + w); x++) for (let ch = 0; ch < 3; ch++) px[(y * S + x) * 3 + ch] = col[ch];
      }
      await sharp(px, { raw: { width: S, height: S, channels: 3 } }).png().toFile(file);
    }
  }
  const planted = 10;
  for (let i = 0; i < planted; i++) {
    const stem = path.join(dir, `i${String(i).padStart(3, '0')}`);
    await sharp(`${stem}.png`).jpeg({ quality: 60 + 2 * i }).toFile(`${stem}-q.jpg`);
    await sharp(`${stem}.png`).extract({ left: 1, top: 0, width: S - 1, height: S }).png().toFile(`${stem}-c.png`);
  }
  const out = path.join(dir, 'index');
  await embedImages({ checkpoint: ckPath, images: dir, out, engine: 'exact', quiet: true, log: () => {} });
  const ix = await openIndex(out);
  const stem = (id: string) => id.slice(0, 4);
  let plantedMin = 1;
  let distinctMax = -1;
  for (let r = 0; r < ix.count; r++) {
    for (const nb of (await ix.search(ix.vector(r), ix.count))[0]) {
      if (nb.row <= r) continue;
      if (stem(nb.id) === stem(ix.ids[r].id)) plantedMin = Math.min(plantedMin, nb.score); else distinctMax = Math.max(distinctMax, nb.score);
    }
  }
  const { groups } = await findDuplicates(ix, { threshold: DEFAULT_DEDUP_THRESHOLD, exact: true });
  const pure = groups.filter((g) => new Set(g.members.map((x) => stem(x.id))).size === 1 && g.members.length === 3).length;
  return {
    images: ix.count, planted_sets: planted, planted_min_cosine: +plantedMin.toFixed(6), distinct_max_cosine: +distinctMax.toFixed(6),
    groups_at_default: groups.length, exactly_planted_groups: pure,
  };
}

await main();
