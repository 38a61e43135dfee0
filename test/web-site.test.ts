// The exported search site in a real browser (Debian chromium via
// playwright-core), against Node: the page's preprocessing gives the same input
// tensor as Node's for an image at the model's size, searchUrl finds the same
// neighbours as openIndex().search on Node's embedding with scores within 1e-3,
// and bad input (undecodable image, file:// URL) gets a message on the page.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { startServer, type StaticServer } from '../src/cli/serve.ts';
import { exportWebSite } from '../src/export/site.ts';
import { embedImages } from '../src/search/embed.ts';
import { decodeFiles, loadEmbedder, type Embedder } from '../src/search/model.ts';
import { openIndex, type SearchIndex } from '../src/search/open.ts';
import { buildAugmenter } from '../src/train/augmenter.ts';
import type { SelfsupPageApi } from '../web/api.ts';
import { ARTIFACTS, browserMissing, launchChromium, textOf } from './browser-helpers.ts';
import { tempDir, tinyCheckpoint, writePicture } from './search-fixtures.ts';

declare global {
  interface Window { selfsup: SelfsupPageApi }
}

const skip = browserMissing();
const quiet = { quiet: true, log: () => {} };

describe.skipIf(skip !== undefined)('exported web site in headless chromium', () => {
  let run: string;
  let images: string;
  let indexDir: string;
  let site: string;
  let server: StaticServer;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let page: Page;
  let embedder: Embedder;
  let index: SearchIndex;
  const consoleErrors: string[] = [];
  const measured: Record<string, unknown> = {};

  beforeAll(async () => {
    ({ run } = await tinyCheckpoint('web-site'));
    images = tempDir('selfsup-web-img-');
    // 32 x 32 = the model's size (no resize: exact), and four 48 x 64 ones (the page's resize path).
    for (let i = 0; i < 20; i++) await writePicture(path.join(images, `s${String(i).padStart(2, '0')}.png`), `web${i}`, 32);
    for (let i = 0; i < 4; i++) {
      await sharp(await sharp(path.join(images, `s0${i}.png`)).resize(64, 48, { kernel: 'nearest' }).png().toBuffer())
        .toFile(path.join(images, `wide${i}.png`));
    }
    const work = tempDir('selfsup-web-');
    indexDir = path.join(work, 'index');
    site = path.join(work, 'site');
    await embedImages({ checkpoint: run, images, out: indexDir, ...quiet });
    const t0 = Date.now();
    const r = await exportWebSite({ checkpoint: run, index: indexDir, out: site });
    measured.exportSeconds = (Date.now() - t0) / 1000;
    measured.siteBytes = r.bytes;
    // Query files next to the page (same origin): copies of indexed images and a file no browser can decode.
    fs.mkdirSync(path.join(site, 'q'));
    for (const f of fs.readdirSync(images)) fs.copyFileSync(path.join(images, f), path.join(site, 'q', f));
    fs.writeFileSync(path.join(site, 'q', 'broken.png'), Buffer.from('\x89PNG\r\n\x1a\nthis is not an image'));
    server = await startServer(site, { port: 0 });
    browser = await launchChromium();
    page = await browser.context.newPage();
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    const t1 = Date.now();
    await page.goto(server.url);
    await page.evaluate(() => window.selfsup.ready);
    measured.coldLoadMs = Date.now() - t1;
    embedder = loadEmbedder({ checkpoint: run });
    index = await openIndex(indexDir);
  });

  afterAll(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    fs.writeFileSync(path.join(ARTIFACTS, 'web-site.json'), JSON.stringify({ ...measured, consoleErrors }, null, 2));
    await browser?.close();
    await server?.close();
    await index?.close();
    embedder?.dispose();
  });

  /** What Node computes for a file: the model input (eval transform of the sharp-decoded image) and the embedding. */
  async function nodeSide(file: string): Promise<{ input: Float32Array; embedding: Float32Array }> {
    const d = await decodeFiles([file], embedder.preprocessing);
    const { evalTransform } = buildAugmenter(embedder.recipe!, embedder.preprocessing.channels);
    const x = evalTransform(d.batch!);
    const input = (await x.data()) as Float32Array;
    x.dispose();
    return { input, embedding: await embedder.embed(d.batch!) };
  }

  it('loads, and records which tfjs backend it runs on', async () => {
    const backend = await page.evaluate(() => window.selfsup.backend);
    measured.backend = backend;
    measured.backendNote = await page.evaluate(() => window.selfsup.backendNote);
    console.log(`web page backend in headless chromium: ${backend} (${measured.backendNote ?? 'first choice'})`);
    expect(['webgl', 'wasm', 'cpu']).toContain(backend);
    expect(await textOf(page, '#status', 'ready: 24 images')).toContain('ready: 24 images');
    expect(await page.locator('#gallery img').count()).toBe(24);
  });

  it('preprocesses an image at the model size exactly as Node does', async () => {
    const got = await page.evaluate(async () => Array.from(await window.selfsup.preprocessUrl('q/s03.png')));
    const { input } = await nodeSide(path.join(images, 's03.png'));
    expect(got.length).toBe(input.length);
    let max = 0;
    for (let i = 0; i < got.length; i++) max = Math.max(max, Math.abs(got[i] - input[i]));
    expect(max).toBe(0);
  });

  it('searchUrl on an indexed image: that image first, the same neighbours and scores as Node', async () => {
    const k = 8;
    for (const name of ['s03.png', 's11.png', 'wide2.png']) {
      const hits = await page.evaluate(async (n) => window.selfsup.searchUrl(`q/${n}`, 8), name);
      const { embedding } = await nodeSide(path.join(images, name));
      const [want] = await index.search(embedding, k);
      expect(hits[0].id).toBe(name);
      expect(hits.map((h) => h.id)).toEqual(want.map((h) => h.id));
      hits.forEach((h, i) => expect(Math.abs(h.score - want[i].score)).toBeLessThan(1e-3));
      measured[`maxScoreDiff_${name}`] = Math.max(...hits.map((h, i) => Math.abs(h.score - want[i].score)));
    }
    // Warm timings: one more query, timed in the page.
    const t0 = Date.now();
    await page.evaluate(async () => window.selfsup.searchUrl('q/s05.png', 8));
    measured.warmQueryMs = Date.now() - t0;
    measured.warmTimings = await page.evaluate(() => window.selfsup.timings);
  });

  it('an embedding of a resized image stays close to Node\'s (Lanczos-3 in JS vs libvips)', async () => {
    const got = new Float32Array(await page.evaluate(async () => Array.from(await window.selfsup.embedUrl('q/wide1.png'))));
    const { embedding } = await nodeSide(path.join(images, 'wide1.png'));
    let dot = 0;
    for (let i = 0; i < got.length; i++) dot += got[i] * embedding[i];
    measured.resizedCosineToNode = dot;
    expect(dot).toBeGreaterThan(0.999);
  });

  it.each(['wasm', 'webgl'])('forced onto %s (wasm binaries shipped in the site), the same neighbours as Node', async (backend) => {
    const p = await browser.context.newPage();
    p.on('pageerror', (e) => consoleErrors.push(String(e)));
    await p.goto(`${server.url}?backend=${backend}`);
    const loaded = await p.evaluate(() => window.selfsup.ready.then(() => 'ok', (e: Error) => e.message));
    if (backend === 'webgl' && /no TensorFlow.js backend works/.test(loaded)) {
      // Headless chromium without any WebGL (not even SwiftShader): nothing to compare, and the page said so.
      measured.webglForced = loaded;
      await p.close();
      return;
    }
    expect(loaded).toBe('ok');
    expect(await p.evaluate(() => window.selfsup.backend)).toBe(backend);
    const hits = await p.evaluate(async () => window.selfsup.searchUrl('q/s11.png', 8));
    const [want] = await index.search((await nodeSide(path.join(images, 's11.png'))).embedding, 8);
    expect(hits.map((h) => h.id)).toEqual(want.map((h) => h.id));
    hits.forEach((h, i) => expect(Math.abs(h.score - want[i].score)).toBeLessThan(1e-3));
    measured[`${backend}Timings`] = await p.evaluate(() => window.selfsup.timings);
    await p.close();
  });

  it('an undecodable image gets a message, from the API and on the page', async () => {
    const err = await page.evaluate(async () => window.selfsup.searchUrl('q/broken.png', 3).then(() => 'resolved', (e: Error) => e.message));
    expect(err).toMatch(/broken\.png: this browser cannot decode it as an image/);
    await page.locator('#file').setInputFiles(path.join(site, 'q', 'broken.png'));
    expect(await textOf(page, '#status.error', 'cannot decode it as an image')).toContain('cannot decode it as an image');
  });

  it('a picked file shows its neighbours with scores (screenshot kept)', async () => {
    await page.locator('#file').setInputFiles(path.join(images, 's07.png'));
    expect(await textOf(page, '#status', 's07.png: embedded in')).toContain('s07.png: embedded in');
    const captions = await page.locator('#results figcaption').allTextContents();
    expect(captions.length).toBe(12);
    const [score, id] = captions[0].split(' ');
    expect(id).toBe('s07.png');
    expect(Math.abs(Number(score) - 1)).toBeLessThan(1e-3);
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'web-search.png'), fullPage: true });
    expect(fs.statSync(path.join(ARTIFACTS, 'web-search.png')).size).toBeGreaterThan(5000);
  });

  it('opened from file:// it says it needs http(s)', async () => {
    const p = await browser.context.newPage();
    await p.goto(pathToFileURL(path.join(site, 'index.html')).href);
    expect(await textOf(p, '#status.error', 'needs to be served over http(s)')).toContain('needs to be served over http(s)');
    await p.close();
  });

  it('no console errors on the page apart from the deliberate undecodable image', () => {
    expect(consoleErrors.filter((e) => !/broken\.png/.test(e))).toEqual([]);
    expect(tf.memory().numTensors).toBeGreaterThanOrEqual(0);
  });
});
