// `embedImages`: images -> frozen backbone -> an index folder, incrementally.
// A run compares the source with the index (path + size + mtime for folders,
// pixel hash for recipe data), drops rows whose image is gone or changed,
// embeds only what is new, committing every batch, and finally brings the
// search engine up to date. Killed anywhere, the next run resumes from the
// last commit: no duplicate rows, no missing ones.
import fs from 'node:fs';
import path from 'node:path';
import { loadRecipe } from '../recipe/index.ts';
import { Progress } from '../log/progress.ts';
import { UserError } from '../util/errors.ts';
import { isStopped, Stopped, yieldToSignals } from '../train/signals.ts';
import { hookPoint } from '../util/test-hooks.ts';
import type { EngineName } from './engine.ts';
import { HNSW_DEFAULTS, type HnswConfig } from './hnsw.ts';
import { INDEX_FORMAT, INDEX_VERSION, MANIFEST, readManifest, type IndexManifest } from './manifest.ts';
import { loadEmbedder, modelOrigin, type Embedder, type ModelSource } from './model.ts';
import { folderSource, recipeSource, type ImageSource, type SourceItem } from './sources.ts';
import { IndexStore } from './store.ts';
import { preflightEngine, syncEngine } from './sync.ts';

export interface EmbedOptions extends ModelSource {
  /** A folder of images (ids = paths relative to it) ... */
  images?: string;
  /** ... or a recipe whose data source to embed (ids = split/index). */
  recipe?: string;
  /** `key=value` overrides of that recipe. */
  sets?: string[];
  /** The index folder (created, or updated incrementally). */
  out: string;
  engine?: EngineName;
  hnsw?: Partial<HnswConfig>;
  /** hnsw: threads inserting into the graph (default 1, reproducible; 0 = every core). */
  indexThreads?: number;
  /** postgres: database URL (default $SELFSUP_DB) and table (default derived from the index folder). */
  db?: string;
  table?: string;
  /** Images per batch, and per commit (default 128). */
  batchSize?: number;
  quiet?: boolean;
  log?: (msg: string) => void;
  /** An already loaded model (the API may embed several folders with one). */
  embedder?: Embedder;
}

export interface EmbedResult {
  index: string;
  count: number;
  added: number;
  removed: number;
  unchanged: number;
  skipped: { id: string; reason: string }[];
  engine: EngineName;
  dim: number;
  fingerprint: string;
  seconds: number;
  images_per_sec: number;
}

export async function embedImages(opts: EmbedOptions): Promise<EmbedResult> {
  const log = opts.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  if ((opts.images === undefined) === (opts.recipe === undefined)) throw new UserError('embed: give the images with --images DIR or a RECIPE (one of them)');
  const engine = opts.engine ?? 'hnsw';
  if (!['hnsw', 'exact', 'postgres'].includes(engine)) throw new UserError(`--engine: '${engine}' is not an engine; valid: hnsw, exact, postgres`);
  const bs = opts.batchSize ?? 128;
  if (!(Number.isInteger(bs) && bs >= 1)) throw new UserError(`--batch-size: expected a positive integer, got ${bs}`);
  const hnsw = { ...HNSW_DEFAULTS, ...opts.hnsw };
  const embedder = opts.embedder ?? loadEmbedder(opts);
  const started = Date.now();
  let source: ImageSource | undefined;
  let store: IndexStore | undefined;
  try {
    const out = path.resolve(opts.out);
    // What can be checked without the images is checked before any is decoded.
    const existing = fs.existsSync(path.join(out, MANIFEST)) ? readManifest(out) : undefined;
    if (existing && existing.count > 0) checkSameModel(existing, embedder, out);
    await preflightEngine(out, existing?.engine, embedder.dim, { engine, db: opts.db, table: opts.table });
    const p = embedder.preprocessing;
    source = opts.images !== undefined ? folderSource(opts.images, p)
      : await recipeSource(opts.recipe!, opts.sets ?? [], p, splitSeed(embedder, opts.recipe, opts.sets ?? []), log);
    if (source.items.length === 0) throw new UserError(`--images: no images in ${opts.images} (expected files sharp reads: .jpg .png .webp ...)`);
    store = IndexStore.open(out, () => freshManifest(embedder, source!.describe, engine), log);
    bindIndex(store, embedder, source.describe, log);

    const { keep, todo } = plan(store, source);
    const removed = store.manifest.count - keep.length;
    if (removed > 0) store.compact(keep);
    if (keep.length > 0 || removed > 0) log(`embed: ${keep.length} images unchanged, ${removed} removed or changed, ${todo.length} to embed`);
    const skipped = await embedNew(store, source, embedder, todo, bs, opts.quiet ?? false, log);
    const embedSecs = (Date.now() - started) / 1000;
    if (store.manifest.count === 0) throw new UserError(`embed: no image could be decoded (first: ${skipped[0]?.id}: ${skipped[0]?.reason})`);
    await syncEngine(store, { engine, hnsw, indexThreads: opts.indexThreads, db: opts.db, table: opts.table, log, quiet: opts.quiet ?? false });
    const added = todo.length - skipped.length;
    return {
      index: out, count: store.manifest.count, added, removed, unchanged: keep.length, skipped, engine, dim: embedder.dim,
      fingerprint: embedder.model.fingerprint, seconds: (Date.now() - started) / 1000,
      images_per_sec: added > 0 ? added / embedSecs : 0,
    };
  } finally {
    store?.close();
    source?.close();
    if (!opts.embedder) embedder.dispose();
  }
}

/**
 * The seed that draws a recipe source's splits: the checkpoint recipe's, as
 * training drew them; an exported model (--model) carries no recipe, so the
 * RECIPE being embedded gives it (the same file it was trained with gives the same splits).
 */
function splitSeed(e: Embedder, recipePath: string | undefined, sets: string[]): number {
  if (e.recipe) return e.recipe.train.seed;
  if (recipePath === undefined) throw new UserError('embed: a model given with --model has no recipe; give the RECIPE whose data to embed');
  if (!fs.existsSync(recipePath)) throw new UserError(`recipe file not found: ${recipePath}`);
  return loadRecipe(recipePath, sets).train.seed;
}

function freshManifest(e: Embedder, source: IndexManifest['source'], engine: EngineName): IndexManifest {
  return {
    format: INDEX_FORMAT, version: INDEX_VERSION, model: e.model, preprocessing: e.preprocessing, dim: e.dim, count: 0, source,
    vectors: { file: 'vectors.0.f32', dtype: 'float32', byte_order: 'little', normalized: true, bytes: 0 },
    ids: { file: 'ids.0.jsonl', bytes: 0 },
    engine: { name: engine, count: 0, extent: 0 },
    generation: 0, updated: '',
  };
}

/**
 * An existing index may only grow with the same model and the same images' root. One with no
 * rows (its first run failed, or every image it held is gone) has nothing to lose: it is
 * re-bound to this model and source.
 */
function bindIndex(store: IndexStore, e: Embedder, source: IndexManifest['source'], log: (m: string) => void): void {
  const m = store.manifest;
  const sameSource = JSON.stringify(m.source) === JSON.stringify(source);
  if (m.count === 0) {
    if (m.model.fingerprint === e.model.fingerprint && m.dim === e.dim && sameSource) return;
    log(`embed: ${store.dir} holds no rows; re-binding it from model ${describeModel(m.model)} to ${describeModel(e.model)}${sameSource ? '' : ` and to ${JSON.stringify(source)}`}`);
    store.rebind({ model: e.model, preprocessing: e.preprocessing, dim: e.dim, source });
    return;
  }
  checkSameModel(m, e, store.dir);
  if (!sameSource) throw new UserError(`${store.dir} indexes ${JSON.stringify(m.source)}, not ${JSON.stringify(source)}; use another --out`);
}

function checkSameModel(m: IndexManifest, e: Embedder, dir: string): void {
  if (m.model.fingerprint !== e.model.fingerprint) {
    throw new UserError(`${dir} was built by model ${describeModel(m.model)}, not by ${describeModel(e.model)}; use another --out or delete the index`);
  }
  if (m.dim !== e.dim) throw new UserError(`${dir}: index vectors have ${m.dim} dimensions, the model gives ${e.dim}`);
}

function describeModel(m: IndexManifest['model']): string {
  return `${m.fingerprint.slice(0, 12)} (${modelOrigin(m)})`;
}

/** Rows to keep (ascending; the first row of an id wins) and items to embed (in source order). */
function plan(store: IndexStore, source: ImageSource): { keep: number[]; todo: SourceItem[] } {
  const byId = new Map(source.items.map((it) => [it.id, it]));
  const { ids } = store.rows();
  const keep: number[] = [];
  const have = new Set<string>();
  ids.forEach((e, r) => {
    const it = byId.get(e.id);
    if (it && !have.has(e.id) && source.same(e, it)) { keep.push(r); have.add(e.id); }
  });
  return { keep, todo: source.items.filter((it) => !have.has(it.id)) };
}

async function embedNew(
  store: IndexStore, source: ImageSource, embedder: Embedder, todo: SourceItem[], bs: number, quiet: boolean, log: (m: string) => void,
): Promise<{ id: string; reason: string }[]> {
  const skipped: { id: string; reason: string }[] = [];
  if (todo.length === 0) return skipped;
  const bar = new Progress({ title: 'embed', total: todo.length, unit: 'images', quiet });
  bar.start();
  // Decode the next batch while the backbone works on this one.
  const load = (s: number) => {
    const p = source.load(todo.slice(s, s + bs));
    p.catch(() => {}); // awaited below; this only keeps a failure from counting as unhandled meanwhile
    return p;
  };
  let next = load(0);
  hookPoint('phase-embed');
  for (let s = 0; s < todo.length; s += bs) {
    const loaded = await next;
    if (s + bs < todo.length) next = load(s + bs);
    for (const f of loaded.failed) {
      skipped.push(f);
      if (skipped.length <= 20) log(`embed: warning: skipping undecodable image ${f.id} (${f.reason})`);
    }
    if (loaded.batch) store.append(loaded.entries, await embedder.embed(loaded.batch));
    const done = Math.min(s + bs, todo.length);
    bar.update(done, done - s);
    hookPoint('batch-embed');
    try {
      await yieldToSignals('embedding');
    } catch (e) {
      if (!isStopped(e)) throw e;
      bar.stop();
      // Every batch so far is committed; a rerun embeds only the rest.
      throw new Stopped(e.reason, 'embedding', `${store.manifest.count} images committed to ${store.dir}; run the same command again to embed the rest`);
    }
  }
  bar.stop();
  if (skipped.length > 0) log(`embed: ${skipped.length} undecodable image(s) skipped (first: ${skipped[0].id})`);
  return skipped;
}
