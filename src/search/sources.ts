// Where `selfsup embed` gets images: a folder (any format sharp reads, decoded
// the way training decodes image folders) or a recipe's data source (ids
// split/index). Each item carries what tells a later run whether it changed.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { closeSplits, openSplits } from '../data/index.ts';
import { listImages, statOrEmpty } from '../data/folder.ts';
import type { Dataset, ImageBatch } from '../data/types.ts';
import { loadRecipe } from '../recipe/index.ts';
import { UserError } from '../util/errors.ts';
import type { IdEntry, IndexManifest, Preprocessing } from './manifest.ts';
import { decodeFiles } from './model.ts';

export interface SourceItem {
  id: string;
  size: number;
  mtime: number;
  /** Known before embedding for recipe data (pixels are cheap to read); folders hash while embedding. */
  sha256?: string;
  label?: number;
}

export interface LoadedItems {
  batch?: ImageBatch;
  /** Entries of the items in `batch`, in its order. */
  entries: IdEntry[];
  failed: { id: string; reason: string }[];
}

export interface ImageSource {
  readonly describe: IndexManifest['source'];
  readonly items: SourceItem[];
  /** Whether an indexed entry still stands for the item (unchanged). */
  same(entry: IdEntry, item: SourceItem): boolean;
  load(items: SourceItem[]): Promise<LoadedItems>;
  close(): void;
}

/** Every image under `dir` (dot-files skipped), ids relative to it. */
export function folderSource(dir: string, p: Preprocessing): ImageSource {
  const root = path.resolve(dir);
  if (!isDir(root)) throw new UserError(`--images: ${dir} is not a folder; expected a folder of images`);
  const items = listImages(root, {}).map((id) => {
    const st = statOrEmpty(path.join(root, id));
    return { id, size: st.size, mtime: st.mtimeMs };
  });
  return {
    describe: { kind: 'folder', root },
    items,
    same: (e, it) => e.size === it.size && e.mtime === it.mtime,
    async load(batch) {
      const files = batch.map((it) => path.join(root, it.id));
      const [decoded, hashes] = await Promise.all([
        decodeFiles(files, p),
        Promise.all(files.map((f) => fs.promises.readFile(f).then((b) => createHash('sha256').update(b).digest('hex'), () => ''))),
      ]);
      return {
        batch: decoded.batch,
        entries: decoded.ok.map((i) => ({ id: batch[i].id, size: batch[i].size, mtime: batch[i].mtime, sha256: hashes[i] })),
        failed: decoded.failed.map((f) => ({ id: batch[f.index].id, reason: f.reason })),
      };
    },
    close() {},
  };
}

/**
 * The images of a recipe's data source at the model's size and channels: its
 * labelled eval splits ('train', 'test'), or its pretraining split when it has none.
 */
export async function recipeSource(recipePath: string, sets: string[], p: Preprocessing, seed: number, log: (m: string) => void): Promise<ImageSource> {
  if (!fs.existsSync(recipePath)) throw new UserError(`recipe file not found: ${recipePath}`);
  const recipe = loadRecipe(recipePath, sets);
  const data = { ...recipe.data, image_size: p.size, channels: p.channels as 1 | 3 };
  const splits = await openSplits(data, { seed, cacheDir: path.join('checkpoints', '.cache'), log });
  const named: [string, Dataset][] = [];
  if (splits.evalTrain) named.push(['train', splits.evalTrain]);
  if (splits.evalTest) named.push(['test', splits.evalTest]);
  if (named.length === 0) named.push(['pretrain', splits.pretrain]);
  const where = new Map<string, [Dataset, number]>();
  const items: SourceItem[] = [];
  for (const [name, ds] of named) {
    const per = ds.height * ds.width * ds.channels;
    for (let s = 0; s < ds.n; s += 1024) {
      const idx = Array.from({ length: Math.min(1024, ds.n - s) }, (_, i) => s + i);
      const b = await ds.read(idx);
      idx.forEach((j, i) => {
        const id = `${name}/${j}`;
        const sha256 = createHash('sha256').update(b.data.subarray(i * per, (i + 1) * per)).digest('hex');
        items.push({ id, size: per, mtime: 0, sha256, ...(ds.labels ? { label: ds.labels[j] } : {}) });
        where.set(id, [ds, j]);
      });
    }
  }
  return {
    describe: { kind: 'recipe', recipe: path.resolve(recipePath), splits: named.map(([n]) => n) },
    items,
    same: (e, it) => e.sha256 === it.sha256,
    async load(batch) {
      const first = where.get(batch[0].id)![0];
      const per = first.height * first.width * first.channels;
      const data = new Uint8Array(batch.length * per);
      // Consecutive items of one split are read together.
      for (let i = 0; i < batch.length;) {
        const ds = where.get(batch[i].id)![0];
        let j = i;
        while (j < batch.length && where.get(batch[j].id)![0] === ds) j++;
        const b = await ds.read(batch.slice(i, j).map((it) => where.get(it.id)![1]));
        data.set(b.data, i * per);
        i = j;
      }
      return {
        batch: { data, n: batch.length, height: first.height, width: first.width, channels: first.channels },
        entries: batch.map((it) => ({ id: it.id, size: it.size, mtime: it.mtime, sha256: it.sha256!, ...(it.label !== undefined ? { label: it.label } : {}) })),
        failed: [],
      };
    },
    close: () => closeSplits(splits),
  };
}

function isDir(p: string): boolean {
  try { return fs.statSync(p).isDirectory(); } catch { return false; }
}
