// `selfsup export --format web`: a static folder any web server can host, in
// which a browser searches an index with the exported backbone, offline once
// loaded:
//
//   index.html, app.js        the page (web/, bundled here with esbuild)
//   tfjs-backend-wasm*.wasm   the wasm backend's binaries (used where webgl is missing)
//   site.json                 web/site.ts SiteManifest: what to load, preprocessing
//   model/                    the backbone as a stock TF.js Layers model
//   vectors.f16 | vectors.i8 (+ scales.f32), ids.json   the index rows
//   thumbs/<row>.webp         small thumbnails of the indexed images
//
// The index must come from the same weights as the checkpoint (fingerprint),
// else the page would compare vectors of two different models.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import sharp from 'sharp';
import { backboneFromCheckpoint, recipeForCheckpoint } from '../cli/export.ts';
import { weightsHash } from '../eval/guard.ts';
import { disposeModule } from '../models/module.ts';
import { openIndex, type SearchIndex } from '../search/open.ts';
import { recipeSource } from '../search/sources.ts';
import { loadCheckpoint } from '../train/checkpoint.ts';
import { UserError } from '../util/errors.ts';
import { SITE_FORMAT, SITE_MANIFEST, SITE_VERSION, type SiteManifest } from '../../web/site.ts';
import { encodeFloat16, encodeInt8, type VectorDtype } from '../../web/vectors.ts';
import { exportBackbone } from './backbone.ts';
import { recipePreprocessing } from './preprocessing.ts';

const WEB_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'web');
// createRequire, not import.meta.resolve: the latter is missing under vitest's module runner.
const WASM_DIR = path.join(path.dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
const WASM_FILES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'];

export interface WebExportOptions {
  checkpoint: string;
  /** Index folder made by `selfsup embed` with this checkpoint's backbone. */
  index: string;
  out: string;
  /** How the vectors are stored (default float16). */
  vectors?: VectorDtype;
  /** Thumbnail side in pixels (default 96; images at most this size are kept at their own size, losslessly). */
  thumbSize?: number;
  log?: (line: string) => void;
}

export interface WebExportResult {
  out: string;
  count: number;
  dim: number;
  dtype: VectorDtype;
  /** Bytes of each part of the site. */
  bytes: { model: number; vectors: number; ids: number; thumbs: number; page: number; total: number };
  missingThumbs: number;
}

export async function exportWebSite(opts: WebExportOptions): Promise<WebExportResult> {
  const log = opts.log ?? (() => {});
  const dtype = opts.vectors ?? 'float16';
  if (dtype !== 'float16' && dtype !== 'int8') throw new UserError(`--vectors: '${String(dtype)}' is not a vector type; valid: float16, int8`);
  const thumbSize = opts.thumbSize ?? 96;
  const ck = loadCheckpoint(opts.checkpoint);
  const recipe = recipeForCheckpoint(ck, undefined, []);
  const backbone = backboneFromCheckpoint(ck, recipe);
  let index: SearchIndex | undefined;
  try {
    index = await openIndex(opts.index, { exact: true });
    const m = index.manifest;
    const fingerprint = await weightsHash(backbone);
    if (m.model.fingerprint !== fingerprint) {
      throw new UserError(`--index ${opts.index} was embedded by model ${m.model.fingerprint.slice(0, 12)} (${m.model.checkpoint}), `
        + `but --checkpoint ${opts.checkpoint} holds model ${fingerprint.slice(0, 12)}; export with the checkpoint the index was built from, or re-embed`);
    }
    const pre = recipePreprocessing(recipe);
    if (JSON.stringify(pre) !== JSON.stringify(m.preprocessing)) {
      throw new UserError(`--index ${opts.index}: its preprocessing ${JSON.stringify(m.preprocessing)} differs from the checkpoint recipe's ${JSON.stringify(pre)}`);
    }
    if (m.count === 0) throw new UserError(`--index ${opts.index}: the index is empty`);
    const out = path.resolve(opts.out);
    fs.mkdirSync(out, { recursive: true });
    const source = { index: path.resolve(opts.index), step: ck.meta.step, method: ck.meta.method, recipe: recipe.name };
    await exportBackbone(backbone, path.join(out, 'model'), {
      inputShape: [pre.size, pre.size, pre.channels], preprocessing: pre, metadata: { source: { checkpoint: ck.path, ...source } },
    });
    const vec = writeVectors(out, index.vectors, m.dim, dtype);
    fs.writeFileSync(path.join(out, 'ids.json'), JSON.stringify(index.ids.map((e) => e.id)));
    log(`site: ${m.count} thumbnails...`);
    const missing = await writeThumbs(index, path.join(out, 'thumbs'), thumbSize, recipe.train.seed, log);
    const site: SiteManifest = {
      format: SITE_FORMAT, version: SITE_VERSION, model: 'model/model.json', fingerprint,
      preprocessing: { size: pre.size, channels: pre.channels, mean: pre.mean, std: pre.std },
      dim: m.dim, count: m.count, vectors: vec, ids: 'ids.json', thumbs: { dir: 'thumbs', size: thumbSize, missing }, source,
    };
    await writePage(out);
    // site.json last: a folder without it is an unfinished export.
    fs.writeFileSync(path.join(out, SITE_MANIFEST), JSON.stringify(site, null, 1) + '\n');
    const bytes = siteBytes(out, site);
    return { out, count: m.count, dim: m.dim, dtype, bytes, missingThumbs: missing.length };
  } finally {
    await index?.close();
    disposeModule(backbone);
  }
}

function writeVectors(out: string, v: Float32Array, dim: number, dtype: VectorDtype): SiteManifest['vectors'] {
  for (const f of ['vectors.f16', 'vectors.i8', 'scales.f32']) fs.rmSync(path.join(out, f), { force: true });
  if (dtype === 'float16') {
    const h = encodeFloat16(v);
    fs.writeFileSync(path.join(out, 'vectors.f16'), Buffer.from(h.buffer, h.byteOffset, h.byteLength));
    return { file: 'vectors.f16', dtype };
  }
  const { q, scales } = encodeInt8(v, dim);
  fs.writeFileSync(path.join(out, 'vectors.i8'), Buffer.from(q.buffer, q.byteOffset, q.byteLength));
  fs.writeFileSync(path.join(out, 'scales.f32'), Buffer.from(scales.buffer, scales.byteOffset, scales.byteLength));
  return { file: 'vectors.i8', dtype, scales: 'scales.f32' };
}

/**
 * thumbs/<row>.webp for every row. Images no larger than `size` stay at their
 * own size, lossless (the digits: exact pixels, so a thumbnail is a faithful
 * query); larger ones are covered to size x size, lossy. Returns rows without one.
 */
async function writeThumbs(index: SearchIndex, dir: string, size: number, seed: number, log: (l: string) => void): Promise<number[]> {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const m = index.manifest;
  const missing: number[] = [];
  const encode = async (img: sharp.Sharp, w: number, h: number, row: number) => {
    const small = w <= size && h <= size;
    const t = small ? img.webp({ lossless: true }) : img.resize(size, size, { fit: 'cover' }).webp({ quality: 70, effort: 2 });
    await t.toFile(path.join(dir, `${row}.webp`));
  };
  if (m.source.kind === 'folder') {
    const root = m.source.root;
    const todo = index.ids.map((e, row) => ({ e, row }));
    // A few at a time: sharp works on its own threads.
    for (let s = 0; s < todo.length; s += 16) {
      await Promise.all(todo.slice(s, s + 16).map(async ({ e, row }) => {
        try {
          const img = sharp(path.join(root, e.id), { failOn: 'truncated' }).rotate();
          const meta = await img.metadata();
          await encode(img, meta.width ?? Infinity, meta.height ?? Infinity, row);
        } catch (err) {
          missing.push(row);
          if (missing.length <= 5) log(`site: warning: no thumbnail for ${e.id} (${(err as Error).message.split('\n')[0]})`);
        }
      }));
    }
    return missing.sort((a, b) => a - b);
  }
  // Recipe data: the decoded pixels, matched to the index rows by id and pixel hash.
  const src = await recipeSource(m.source.recipe, [], m.preprocessing, seed, log);
  try {
    const byId = new Map(src.items.map((it) => [it.id, it]));
    const rows = index.ids.map((e, row) => ({ e, row, it: byId.get(e.id) })).filter((r) => {
      const ok = r.it !== undefined && r.it.sha256 === r.e.sha256;
      if (!ok) missing.push(r.row);
      return ok;
    });
    const { size: s, channels: c } = m.preprocessing;
    for (let i = 0; i < rows.length; i += 256) {
      const part = rows.slice(i, i + 256);
      const loaded = await src.load(part.map((r) => r.it!));
      const per = s * s * c;
      await Promise.all(part.map((r, j) => encode(
        sharp(Buffer.from(loaded.batch!.data.subarray(j * per, (j + 1) * per)), { raw: { width: s, height: s, channels: c as 1 | 3 } }), s, s, r.row,
      )));
    }
  } finally {
    src.close();
  }
  return missing.sort((a, b) => a - b);
}

/** index.html, the bundled app.js and the wasm backend's binaries. */
async function writePage(out: string): Promise<void> {
  await esbuild.build({
    entryPoints: [path.join(WEB_DIR, 'main.ts')], bundle: true, format: 'iife', minify: true, platform: 'browser', target: 'es2020',
    outfile: path.join(out, 'app.js'), logLevel: 'silent', legalComments: 'none',
  });
  fs.copyFileSync(path.join(WEB_DIR, 'index.html'), path.join(out, 'index.html'));
  for (const f of WASM_FILES) fs.copyFileSync(path.join(WASM_DIR, f), path.join(out, f));
}

function siteBytes(out: string, site: SiteManifest): WebExportResult['bytes'] {
  const size = (p: string) => fs.statSync(path.join(out, p)).size;
  const dirSize = (d: string) => fs.readdirSync(path.join(out, d)).reduce((a, f) => a + size(path.join(d, f)), 0);
  const b = {
    model: dirSize('model'),
    vectors: size(site.vectors.file) + (site.vectors.scales ? size(site.vectors.scales) : 0),
    ids: size(site.ids),
    thumbs: dirSize('thumbs'),
    page: ['index.html', 'app.js', SITE_MANIFEST, ...WASM_FILES].reduce((a, f) => a + size(f), 0),
  };
  return { ...b, total: b.model + b.vectors + b.ids + b.thumbs + b.page };
}
