// The web export without a browser: the vector codecs against float64
// references, the page's preprocessing against sharp + the eval transform,
// the site folder's contents, the fingerprint refusal, the static server, and
// the exported model's metadata (fingerprint + preprocessing).
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { exportSubcommand } from '../src/cli/export-command.ts';
import { startServer } from '../src/cli/serve.ts';
import { exportWebSite } from '../src/export/site.ts';
import { embedImages } from '../src/search/embed.ts';
import { decodeFiles } from '../src/search/model.ts';
import { UserError } from '../src/util/errors.ts';
import { Rng } from '../src/util/rng.ts';
import { fromRgba, preprocess } from '../web/preprocess.ts';
import type { SiteManifest } from '../web/site.ts';
import { decodeFloat16, decodeInt8, encodeFloat16, encodeInt8, fromHalf, toHalf, topK } from '../web/vectors.ts';
import { tempDir, tinyCheckpoint, writePicture } from './search-fixtures.ts';

const quiet = { quiet: true, log: () => {} };

describe('site vector codecs', () => {
  it('float16: every finite half survives a round trip; floats round to the nearest half (ties to even)', () => {
    for (let h = 0; h < 0x10000; h++) {
      const v = fromHalf(h);
      if (Number.isFinite(v)) expect(toHalf(v)).toBe(v === 0 ? h & 0x8000 : h);
    }
    expect(toHalf(1 + 2 ** -11)).toBe(0x3c00); // halfway between 1 and 1 + 2^-10: ties to the even 1
    expect(toHalf(1 + 3 * 2 ** -11)).toBe(0x3c02); // halfway between 1 + 2^-10 and 1 + 2^-9: to the even one
    expect(toHalf(65520)).toBe(0x7c00); // rounds past the largest half (65504): infinity
    expect(fromHalf(toHalf(2 ** -24))).toBe(2 ** -24); // smallest subnormal
    const rng = new Rng('f16');
    const v = Float32Array.from({ length: 4096 }, () => rng.next() * 2 - 1);
    const back = decodeFloat16(encodeFloat16(v));
    v.forEach((x, i) => expect(Math.abs(back[i] - x)).toBeLessThanOrEqual(Math.max(Math.abs(x) * 2 ** -11, 2 ** -25)));
  });

  it('int8 per-row: error at most half a step of the row scale; zero rows stay zero', () => {
    const rng = new Rng('i8');
    const dim = 24;
    const v = Float32Array.from({ length: dim * 50 }, (_, i) => (i < dim ? 0 : rng.next() - 0.5));
    const { q, scales } = encodeInt8(v, dim);
    const back = decodeInt8(q, scales, dim);
    expect(scales[0]).toBe(0);
    for (let r = 0; r < 50; r++) {
      let mx = 0;
      for (let j = 0; j < dim; j++) mx = Math.max(mx, Math.abs(v[r * dim + j]));
      expect(scales[r]).toBeCloseTo(mx / 127, 7);
      for (let j = 0; j < dim; j++) expect(Math.abs(back[r * dim + j] - v[r * dim + j])).toBeLessThanOrEqual(scales[r] / 2 + 1e-7);
    }
  });

  it('topK equals a float64 brute force (ties: lower row first)', () => {
    const rng = new Rng('topk');
    const dim = 8;
    const n = 300;
    const v = Float32Array.from({ length: n * dim }, () => Math.round((rng.next() - 0.5) * 8) / 4);
    const q = Float32Array.from({ length: dim }, () => Math.round((rng.next() - 0.5) * 8) / 4);
    const scores = Array.from({ length: n }, (_, r) => {
      let s = 0;
      for (let j = 0; j < dim; j++) s += v[r * dim + j] * q[j];
      return { row: r, score: s };
    });
    const want = [...scores].sort((a, b) => b.score - a.score || a.row - b.row).slice(0, 17);
    const got = topK(v, dim, q, 17);
    expect(got.map((h) => h.row)).toEqual(want.map((h) => h.row));
    got.forEach((h, i) => expect(h.score).toBeCloseTo(want[i].score, 5));
  });
});

describe('page preprocessing vs Node (sharp + eval transform)', () => {
  const p = { size: 16, channels: 3, mean: [0.4, 0.5, 0.6], std: [0.2, 0.25, 0.3] };

  async function compare(w: number, h: number, channels: number): Promise<{ max: number; mean: number }> {
    const rng = new Rng(`pp${w}x${h}`);
    const px = Buffer.alloc(w * h * 3);
    // Smooth pictures plus noise: what photos look like to a resampler.
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) {
      px[(y * w + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(128 + 90 * Math.sin(x / 4 + c) * Math.cos(y / 6) + rng.int(30) - 15)));
    }
    const dir = tempDir('selfsup-pp-');
    const file = path.join(dir, 'a.png');
    await sharp(px, { raw: { width: w, height: h, channels: 3 } }).png().toFile(file);
    const node = (await decodeFiles([file], { size: p.size, channels })).batch!.data;
    const { data } = await sharp(file).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    const pre = { ...p, channels, mean: p.mean.slice(0, channels), std: p.std.slice(0, channels) };
    const page = preprocess(data, w, h, pre);
    // Back to bytes to compare resampling in grey levels.
    let max = 0;
    let sum = 0;
    page.forEach((v, i) => {
      const byte = Math.round((v * pre.std[i % channels] + pre.mean[i % channels]) * 255);
      const d = Math.abs(byte - node[i]);
      max = Math.max(max, d);
      sum += d;
    });
    return { max, mean: sum / page.length };
  }

  it('an image at the model size: the same bytes', async () => {
    expect(await compare(16, 16, 3)).toEqual({ max: 0, mean: 0 });
  });

  it('downscales stay within a few grey levels of libvips (Lanczos-3); measured, not exact', async () => {
    for (const [w, h] of [[32, 32], [40, 56], [56, 40]]) {
      const d = await compare(w, h, 3);
      console.log(`page resize vs sharp, ${w}x${h} -> 16: max ${d.max}, mean ${d.mean.toFixed(3)} grey levels`);
      expect(d.mean).toBeLessThan(2);
      expect(d.max).toBeLessThanOrEqual(10);
    }
  });

  it('normalization: (x - 255 mean) / (255 std), the float32 values of the eval transform', () => {
    const rgba = new Uint8Array([0, 128, 255, 255]);
    const out = preprocess(rgba, 1, 1, { size: 1, channels: 3, mean: [0.5, 0.5, 0.5], std: [0.25, 0.5, 1] });
    expect(Array.from(out)).toEqual([Math.fround(-127.5 / 63.75), Math.fround(0.5 / 127.5), Math.fround(127.5 / 255)]);
    expect(Array.from(fromRgba(new Uint8Array([9, 9, 9, 0, 7, 7, 7, 255]), 2, 1))).toEqual([9, 7]);
  });
});

describe('selfsup export --format web', () => {
  let run: string;
  let other: string;
  let indexDir: string;
  let images: string;

  beforeAll(async () => {
    ({ run } = await tinyCheckpoint('web-export'));
    ({ run: other } = await tinyCheckpoint('web-export-other'));
    images = tempDir('selfsup-webx-img-');
    for (let i = 0; i < 6; i++) await writePicture(path.join(images, `a${i}.png`), `wx${i}`, i < 3 ? 32 : 120);
    fs.writeFileSync(path.join(images, 'zz-broken.png'), 'not a png');
    indexDir = path.join(tempDir('selfsup-webx-'), 'index');
    await embedImages({ checkpoint: run, images, out: indexDir, ...quiet });
  });

  it('writes the page, the model (with fingerprint + preprocessing), vectors, ids and thumbnails', async () => {
    const out = path.join(tempDir('selfsup-webx-site-'), 'site');
    const r = await exportWebSite({ checkpoint: run, index: indexDir, out, vectors: 'int8', thumbSize: 48 });
    const site = JSON.parse(fs.readFileSync(path.join(out, 'site.json'), 'utf8')) as SiteManifest;
    const manifest = JSON.parse(fs.readFileSync(path.join(indexDir, 'manifest.json'), 'utf8'));
    expect(site.fingerprint).toBe(manifest.model.fingerprint);
    expect(site.count).toBe(6);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'ids.json'), 'utf8'))).toEqual(['a0.png', 'a1.png', 'a2.png', 'a3.png', 'a4.png', 'a5.png']);
    const model = JSON.parse(fs.readFileSync(path.join(out, 'model', 'model.json'), 'utf8'));
    expect(model.userDefinedMetadata.selfsup.fingerprint).toBe(manifest.model.fingerprint);
    expect(model.userDefinedMetadata.selfsup.preprocessing).toEqual(manifest.preprocessing);
    expect(fs.statSync(path.join(out, 'vectors.i8')).size).toBe(6 * site.dim);
    expect(fs.statSync(path.join(out, 'scales.f32')).size).toBe(6 * 4);
    for (const f of ['index.html', 'app.js', 'tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm']) expect(fs.existsSync(path.join(out, f))).toBe(true);
    // Small images keep their size (lossless), large ones are covered to the thumbnail size.
    expect((await sharp(path.join(out, 'thumbs', '0.webp')).metadata()).width).toBe(32);
    expect((await sharp(path.join(out, 'thumbs', '4.webp')).metadata()).width).toBe(48);
    const small = (await sharp(path.join(out, 'thumbs', '1.webp')).raw().toBuffer());
    const orig = await sharp(path.join(images, 'a1.png')).raw().toBuffer();
    expect(small.equals(orig)).toBe(true);
    expect(r.bytes.total).toBe(r.bytes.model + r.bytes.vectors + r.bytes.ids + r.bytes.thumbs + r.bytes.page);
  });

  it('refuses an index embedded by another model, naming both (exit 2)', async () => {
    const out = path.join(tempDir('selfsup-webx-bad-'), 'site');
    const err = await exportSubcommand(undefined, { checkpoint: other, out, format: 'web', set: [], backend: 'cpu', index: indexDir })
      .then(() => undefined, (e: Error) => e);
    expect(err).toBeInstanceOf(UserError);
    const manifest = JSON.parse(fs.readFileSync(path.join(indexDir, 'manifest.json'), 'utf8'));
    expect(err!.message).toContain(manifest.model.fingerprint.slice(0, 12));
    expect(err!.message).toContain(other);
    expect(err!.message.split('\n')).toHaveLength(1);
    expect(fs.existsSync(path.join(out, 'site.json'))).toBe(false);
    await expect(exportSubcommand(undefined, { checkpoint: run, out, format: 'web', set: [], backend: 'cpu' })).rejects.toThrow(/--index/);
  });

  it('serve: 127.0.0.1 only, wasm with its MIME type, no path escape, a busy port is a user error', async () => {
    const out = path.join(tempDir('selfsup-webx-serve-'), 'site');
    await exportWebSite({ checkpoint: run, index: indexDir, out });
    const s = await startServer(out, { port: 0 });
    try {
      expect(s.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      const wasm = await fetch(`${s.url}tfjs-backend-wasm.wasm`);
      expect(wasm.headers.get('content-type')).toBe('application/wasm');
      expect((await fetch(`${s.url}site.json`)).status).toBe(200);
      expect((await fetch(`${s.url}..%2f..%2f..%2fetc%2fpasswd`)).status).toBe(404);
      await expect(startServer(out, { port: s.port })).rejects.toThrow(UserError);
    } finally {
      await s.close();
    }
    await expect(startServer(images)).rejects.toThrow(/no index.html/);
  });
});
