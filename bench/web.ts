// The static search site, measured: page weight (model + vectors + thumbnails)
// for the embedded digits and for a synthetic 10k-image folder, what float16 /
// int8 vectors cost in recall@10 against float32, time to first result in
// headless chromium (cold and warm), and embedding time per image in the
// browser vs Node.
//   npx tsx bench/web.ts [--checkpoint RUN] [--n 10000] [--json]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { exportWebSite } from '../src/export/site.ts';
import { startServer } from '../src/cli/serve.ts';
import { embedImages } from '../src/search/embed.ts';
import { decodeFiles, loadEmbedder } from '../src/search/model.ts';
import { openIndex } from '../src/search/open.ts';
import { Rng } from '../src/util/rng.ts';
import { decodeFloat16, decodeInt8, encodeFloat16, encodeInt8, topK } from '../web/vectors.ts';
import { launchChromium } from '../test/browser-helpers.ts';
import { writePicture } from '../test/search-fixtures.ts';
import type { SelfsupPageApi } from '../web/api.ts';

declare global { interface Window { selfsup: SelfsupPageApi } }

const arg = (name: string, def: string) => { const i = process.argv.indexOf(name); return i >= 0 ? process.argv[i + 1] : def; };
const checkpoint = arg('--checkpoint', 'checkpoints/m-simclr');
const n = Number(arg('--n', '10000'));
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'selfsup-bench-web-'));
const quiet = { quiet: true, log: () => {} };
const out: Record<string, unknown> = { checkpoint, work };

/** recall@10 and the largest score error of quantized vectors against float32, over `q` sampled rows as queries. */
function quantCost(v: Float32Array, dim: number, q = 500) {
  const rows = v.length / dim;
  const rng = new Rng('bench-web-q');
  const queries = Array.from({ length: Math.min(q, rows) }, () => rng.int(rows));
  const res: Record<string, { recall10: number; maxScoreErr: number }> = {};
  const f16 = decodeFloat16(encodeFloat16(v));
  const { q: q8, scales } = encodeInt8(v, dim);
  const i8 = decodeInt8(q8, scales, dim);
  for (const [name, vv] of [['float16', f16], ['int8', i8]] as const) {
    let hit = 0, err = 0;
    for (const r of queries) {
      const query = v.subarray(r * dim, (r + 1) * dim);
      const want = topK(v, dim, query, 10);
      const got = topK(vv, dim, query, 10);
      const ws = new Set(want.map((h) => h.row));
      hit += got.filter((h) => ws.has(h.row)).length;
      for (const h of got) {
        let s = 0;
        for (let j = 0; j < dim; j++) s += v[h.row * dim + j] * query[j];
        err = Math.max(err, Math.abs(h.score - s));
      }
    }
    res[name] = { recall10: hit / (10 * queries.length), maxScoreErr: err };
  }
  return res;
}

async function site(name: string, index: string) {
  const t0 = Date.now();
  const f16 = await exportWebSite({ checkpoint, index, out: path.join(work, `${name}-site`) });
  const exportSeconds = (Date.now() - t0) / 1000;
  const i8 = await exportWebSite({ checkpoint, index, out: path.join(work, `${name}-site-int8`), vectors: 'int8' });
  const idx = await openIndex(index, { exact: true });
  const cost = quantCost(idx.vectors, idx.dim);
  await idx.close();
  return { count: f16.count, dim: f16.dim, exportSeconds, bytesFloat16: f16.bytes, vectorsBytesInt8: i8.bytes.vectors, quantization: cost };
}

// 1. The embedded digits, as the checkpoint's recipe reads them.
const digitsIndex = path.join(work, 'digits-index');
let t = Date.now();
await embedImages({ checkpoint, recipe: path.join(checkpoint, 'recipe.yaml'), out: digitsIndex, ...quiet });
out.digits = { embedSeconds: (Date.now() - t) / 1000, ...(await site('digits', digitsIndex)) };
console.error('digits', JSON.stringify(out.digits));

// 2. A synthetic folder of n 64x64 PNGs (seeded rectangles: they compress far better than photos).
const folder = path.join(work, 'folder');
fs.mkdirSync(folder);
t = Date.now();
for (let i = 0; i < n; i += 64) {
  await Promise.all(Array.from({ length: Math.min(64, n - i) }, (_, j) => writePicture(path.join(folder, `img${String(i + j).padStart(5, '0')}.png`), `bw${i + j}`, 64)));
}
const folderIndex = path.join(work, 'folder-index');
await embedImages({ checkpoint, images: folder, out: folderIndex, ...quiet });
out.folder = { images: n, embedSeconds: (Date.now() - t) / 1000, ...(await site('folder', folderIndex)) };
console.error('folder', JSON.stringify(out.folder));

// 3. Headless chromium on the digits site: cold (fresh profile: nothing cached) and warm.
const server = await startServer(path.join(work, 'digits-site'), { port: 0 });
const ids = JSON.parse(fs.readFileSync(path.join(work, 'digits-site', 'ids.json'), 'utf8')) as string[];
const browserRuns: Record<string, unknown> = {};
for (const backend of ['', 'wasm']) {
  const b = await launchChromium();
  const page = await b.context.newPage();
  const t0 = Date.now();
  await page.goto(`${server.url}${backend ? `?backend=${backend}` : ''}`);
  await page.evaluate(() => window.selfsup.ready);
  const readyMs = Date.now() - t0;
  await page.evaluate(async () => window.selfsup.searchUrl('thumbs/0.webp', 10));
  const coldFirstResultMs = Date.now() - t0;
  const embedMs: number[] = [];
  const queryMs: number[] = [];
  for (let i = 1; i <= 20; i++) {
    const q0 = Date.now();
    await page.evaluate(async (u) => window.selfsup.searchUrl(u, 10), `thumbs/${i}.webp`);
    queryMs.push(Date.now() - q0);
    embedMs.push((await page.evaluate(() => window.selfsup.timings!.embed)));
  }
  // Warm: the same profile, page reloaded (model, vectors and thumbnails from the HTTP cache).
  const w0 = Date.now();
  await page.reload();
  await page.evaluate(() => window.selfsup.ready);
  await page.evaluate(async () => window.selfsup.searchUrl('thumbs/0.webp', 10));
  const warmReloadFirstResultMs = Date.now() - w0;
  browserRuns[backend || 'default'] = {
    backend: await page.evaluate(() => window.selfsup.backend), readyMs, coldFirstResultMs, warmReloadFirstResultMs,
    warmQueryMedianMs: queryMs.sort((a, b) => a - b)[10], embedMedianMs: embedMs.sort((a, b) => a - b)[10],
  };
  await b.close();
}
await server.close();
out.browser = browserRuns;

// 4. Node: the same model, one image at a time (what the page does), on the thumbnails (lossless digits).
const embedder = loadEmbedder({ checkpoint });
const times: number[] = [];
for (let i = 1; i <= 20; i++) {
  const d = await decodeFiles([path.join(work, 'digits-site', 'thumbs', `${i}.webp`)], embedder.preprocessing);
  const t1 = performance.now();
  await embedder.embed(d.batch!);
  times.push(performance.now() - t1);
}
embedder.dispose();
out.nodeEmbedMedianMs = times.sort((a, b) => a - b)[10];
out.nodeBackend = (await import('@tensorflow/tfjs')).getBackend();
out.digitsIds = ids.length;
console.log(JSON.stringify(out, null, 2));
fs.rmSync(work, { recursive: true, force: true });
