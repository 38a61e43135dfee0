// The search page: loads site.json, the exported backbone and the index
// vectors, then embeds a picked, dropped or fetched image in the browser and
// shows its nearest indexed neighbours. Bundled by esbuild at export
// (src/export/site.ts); `window.selfsup` is the automation interface.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { loadLayersModel, type LayersModel } from '@tensorflow/tfjs-layers';
import type { SearchHit, SelfsupPageApi, Timings } from './api.ts';
import { preprocess } from './preprocess.ts';
import { SITE_FORMAT, SITE_MANIFEST, type SiteManifest } from './site.ts';
import { decodeFloat16, decodeInt8, l2normalize, topK } from './vectors.ts';

interface Loaded { site: SiteManifest; model: LayersModel; vectors: Float32Array; ids: string[] }

declare global {
  interface Window { selfsup: SelfsupPageApi }
}

const $ = (id: string) => document.getElementById(id)!;

/** A message for the person looking at the page (shown as it is, no stack). */
class PageError extends Error {}

function setStatus(text: string, error = false): void {
  const s = $('status');
  s.textContent = text;
  s.className = error ? 'error' : '';
}

async function fetchOk(url: string): Promise<Response> {
  let r: Response;
  try {
    r = await fetch(url);
  } catch (e) {
    throw new PageError(`could not fetch ${url} (${(e as Error).message})`);
  }
  if (!r.ok) throw new PageError(`could not fetch ${url}: HTTP ${r.status}`);
  return r;
}

/** The WebGL renderer when it is a software one (SwiftShader, llvmpipe): there wasm is several times faster. */
function softwareWebgl(): string | undefined {
  try {
    const gl = document.createElement('canvas').getContext('webgl2') ?? document.createElement('canvas').getContext('webgl');
    if (!gl) return undefined;
    const info = gl.getExtension('WEBGL_debug_renderer_info');
    const renderer = String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
    return /swiftshader|llvmpipe|softpipe|software/i.test(renderer) ? renderer : undefined;
  } catch {
    return undefined;
  }
}

/**
 * webgl on a real GPU (and only where it renders float32, else scores drift),
 * then wasm, then cpu; ?backend=NAME forces one. Measured in headless chromium
 * (bench/web.ts): SwiftShader webgl 36 ms per 28x28 digit, wasm 3 ms.
 */
async function pickBackend(): Promise<string> {
  setWasmPaths(new URL('./', location.href).href);
  const forced = new URLSearchParams(location.search).get('backend');
  const software = forced ? undefined : softwareWebgl();
  if (software) window.selfsup.backendNote = `webgl skipped: software renderer (${software})`;
  const order = forced ? [forced] : software ? ['wasm', 'webgl', 'cpu'] : ['webgl', 'wasm', 'cpu'];
  for (const name of order) {
    try {
      if (!(await tf.setBackend(name))) continue;
      await tf.ready();
      if (name === 'webgl' && !tf.env().getBool('WEBGL_RENDER_FLOAT32_CAPABLE')) continue;
      const probe = tf.add(tf.scalar(1), tf.scalar(2));
      const ok = (await probe.data())[0] === 3;
      probe.dispose();
      if (ok) return name;
    } catch { /* try the next one */ }
  }
  throw new PageError(`no TensorFlow.js backend works in this browser (tried ${order.join(', ')})`);
}

async function load(): Promise<Loaded> {
  if (location.protocol === 'file:') {
    throw new PageError('This page needs to be served over http(s): opened from a file:// URL the browser will not let it load its model and index. '
      + 'Run `npx selfsup serve <this folder>` and open the address it prints.');
  }
  const site = (await (await fetchOk(SITE_MANIFEST)).json()) as SiteManifest;
  if (site.format !== SITE_FORMAT) throw new PageError(`${SITE_MANIFEST}: not a selfsup site (format ${String(site.format)})`);
  const backend = await pickBackend();
  window.selfsup.backend = backend;
  const [model, raw, ids, scales] = await Promise.all([
    loadLayersModel(site.model),
    fetchOk(site.vectors.file).then((r) => r.arrayBuffer()),
    fetchOk(site.ids).then((r) => r.json() as Promise<string[]>),
    site.vectors.scales ? fetchOk(site.vectors.scales).then((r) => r.arrayBuffer()) : Promise.resolve(undefined),
  ]);
  const vectors = site.vectors.dtype === 'float16' ? decodeFloat16(new Uint16Array(raw))
    : decodeInt8(new Int8Array(raw), new Float32Array(scales!), site.dim);
  if (vectors.length !== site.count * site.dim || ids.length !== site.count) {
    throw new PageError(`${site.vectors.file}: ${vectors.length} values and ${ids.length} ids for ${site.count} x ${site.dim}`);
  }
  const { size, channels } = site.preprocessing;
  // One warm-up run compiles the backend's kernels, so the first query is not the slow one.
  tf.tidy(() => model.predict(tf.zeros([1, size, size, channels])));
  return { site, model, vectors, ids };
}

let loaded: Loaded | undefined;

async function pixels(url: string): Promise<{ rgba: Uint8ClampedArray; width: number; height: number }> {
  const blob = await (await fetchOk(url)).blob();
  let bitmap: ImageBitmap;
  try {
    // As sharp: EXIF orientation applied, alpha not premultiplied, no colour management.
    bitmap = await createImageBitmap(blob, { imageOrientation: 'from-image', premultiplyAlpha: 'none', colorSpaceConversion: 'none' });
  } catch {
    throw new PageError(`${decodeURIComponent(url.split('/').pop() || url)}: this browser cannot decode it as an image (${blob.type || 'unknown type'}, ${blob.size} bytes); try a PNG, JPEG or WebP file`);
  }
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  ctx.drawImage(bitmap, 0, 0);
  const { data } = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
  const out = { rgba: data, width: bitmap.width, height: bitmap.height };
  bitmap.close();
  return out;
}

async function ready(): Promise<Loaded> {
  await window.selfsup.ready;
  return loaded!;
}

async function preprocessUrl(url: string, t?: Timings): Promise<Float32Array> {
  const { site } = await ready();
  let t0 = performance.now();
  const px = await pixels(url);
  if (t) t.decode = performance.now() - t0;
  t0 = performance.now();
  const input = preprocess(px.rgba, px.width, px.height, site.preprocessing);
  if (t) t.preprocess = performance.now() - t0;
  return input;
}

async function embedUrl(url: string, t?: Timings): Promise<Float32Array> {
  const { site, model } = await ready();
  const input = await preprocessUrl(url, t);
  const t0 = performance.now();
  const { size, channels } = site.preprocessing;
  const out = tf.tidy(() => model.predict(tf.tensor4d(input, [1, size, size, channels])) as tf.Tensor);
  const features = (await out.data()) as Float32Array;
  out.dispose();
  if (features.length !== site.dim) throw new PageError(`the model gives ${features.length} features, the index has ${site.dim}`);
  if (t) t.embed = performance.now() - t0;
  return l2normalize(features);
}

function searchVector(query: Float32Array, k: number, t?: Timings): SearchHit[] {
  const { site, vectors, ids } = loaded!;
  const t0 = performance.now();
  const hits = topK(vectors, site.dim, query, Math.min(k, site.count)).map((h) => ({ id: ids[h.row], score: h.score, row: h.row }));
  if (t) t.search = performance.now() - t0;
  return hits;
}

async function searchUrl(url: string, k: number): Promise<SearchHit[]> {
  if (!(Number.isInteger(k) && k >= 1)) throw new PageError(`k: expected a positive integer, got ${k}`);
  const t: Timings = { decode: 0, preprocess: 0, embed: 0, search: 0 };
  const hits = searchVector(await embedUrl(url, t), k, t);
  window.selfsup.timings = t;
  return hits.map(({ id, score }) => ({ id, score }));
}

// ---------- the page ----------

const thumbUrl = (row: number) => (loaded!.site.thumbs.missing.includes(row) ? '' : `${loaded!.site.thumbs.dir}/${row}.webp`);

function figure(row: number, caption: string, title: string, onClick?: () => void): HTMLElement {
  const f = document.createElement('figure');
  const img = document.createElement('img');
  img.src = thumbUrl(row);
  img.alt = title;
  img.title = title;
  if (onClick) img.addEventListener('click', onClick);
  const c = document.createElement('figcaption');
  c.textContent = caption;
  f.append(img, c);
  return f;
}

function showResults(queryUrl: string, hits: (SearchHit & { row?: number })[]): void {
  const rowOf = new Map(loaded!.ids.map((id, i) => [id, i]));
  ($('query-img') as HTMLImageElement).src = queryUrl;
  $('query').hidden = false;
  $('results').replaceChildren(...hits.map((h) => {
    const row = h.row ?? rowOf.get(h.id)!;
    return figure(row, `${h.score.toFixed(4)} ${h.id}`, `${h.id} (cosine ${h.score.toFixed(4)})`, () => queryIndexed(row));
  }));
}

const K = 12;

async function run(label: string, what: () => Promise<void>): Promise<void> {
  setStatus(`searching ${label}…`);
  try {
    await what();
  } catch (e) {
    setStatus(e instanceof PageError ? e.message : `error: ${(e as Error).message}`, true);
  }
}

function queryIndexed(row: number): void {
  void run(loaded!.ids[row], async () => {
    const { site, vectors, ids } = loaded!;
    const t0 = performance.now();
    const hits = searchVector(vectors.subarray(row * site.dim, (row + 1) * site.dim), K);
    showResults(thumbUrl(row), hits);
    setStatus(`${ids[row]} (indexed): ${hits.length} neighbours in ${(performance.now() - t0).toFixed(1)} ms`);
  });
}

function queryFile(file: File): void {
  const url = URL.createObjectURL(file);
  void run(file.name, async () => {
    const hits = await searchUrl(url, K);
    const t = window.selfsup.timings!;
    showResults(url, hits);
    setStatus(`${file.name}: embedded in ${t.embed.toFixed(1)} ms on ${window.selfsup.backend}, ${hits.length} neighbours`);
  });
}

function wire(): void {
  const { site, ids } = loaded!;
  $('about').textContent = `${site.count} images, ${site.dim}-d embeddings from ${site.source.recipe ?? 'a checkpoint'}`
    + `${site.source.step !== undefined ? ` (step ${site.source.step})` : ''}; running on ${window.selfsup.backend}`;
  const shown = Math.min(ids.length, 200);
  $('gallery').replaceChildren(...Array.from({ length: shown }, (_, row) => figure(row, ids[row], ids[row], () => queryIndexed(row))));
  const input = $('file') as HTMLInputElement;
  input.addEventListener('change', () => { if (input.files?.[0]) queryFile(input.files[0]); });
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const f = e.dataTransfer?.files?.[0];
    if (f) queryFile(f);
  });
  setStatus(`ready: ${site.count} images indexed; pick or drop an image.`);
}

const readyPromise = load().then((l) => { loaded = l; });
window.selfsup = { ready: readyPromise, searchUrl, preprocessUrl: (u) => preprocessUrl(u), embedUrl: (u) => embedUrl(u) };
readyPromise.then(wire, (e: Error) => {
  setStatus(e instanceof PageError ? e.message : `could not load the page: ${e.message}`, true);
  if (location.protocol !== 'file:') $('about').textContent = 'not loaded';
});
