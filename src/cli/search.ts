// `selfsup search INDEX (--image FILE... | --images DIR | --id ID...) [-k 10] [--exact] [--json] [--sheet PNG]`:
// nearest neighbours by cosine similarity. Query images are embedded with the
// index's own model (its checkpoint, checked against the index's fingerprint).
import fs from 'node:fs';
import path from 'node:path';
import { listImages } from '../data/folder.ts';
import type { IndexManifest } from '../search/manifest.ts';
import { decodeFiles, indexEmbedder, type ModelSource } from '../search/model.ts';
import { openIndex, type Neighbor, type SearchIndex } from '../search/open.ts';
import { QUERY_FRAME, writeSheet, type SheetTile } from '../search/sheet.ts';
import { UserError } from '../util/errors.ts';
import { chooseBackend, printJson, stderr } from './common.ts';
import { checkOutFile } from './out-path.ts';

export interface SearchCliOptions {
  image?: string[];
  images?: string;
  id?: string[];
  k: number;
  exact?: boolean;
  json?: boolean;
  sheet?: string;
  /** The model for query images when the index's checkpoint moved (its fingerprint must still match). */
  checkpoint?: string;
  /** ... or an exported TF.js backbone folder of the same weights. */
  model?: string;
  db?: string;
  backend: string;
  threads?: number;
}

export interface SearchOutput { queries: { query: string; neighbors: { id: string; score: number }[] }[] }

interface Query { label: string; file?: string; row?: number }

export async function searchSubcommand(dir: string, o: SearchCliOptions): Promise<SearchOutput> {
  const kinds = [o.image?.length, o.images, o.id?.length].filter(Boolean).length;
  if (kinds !== 1) throw new UserError('search: give the queries with one of --image FILE..., --images DIR or --id ID...');
  if (!(Number.isInteger(o.k) && o.k >= 1)) throw new UserError(`-k: expected a positive integer, got ${o.k}`);
  if (o.sheet) checkOutFile('--sheet', o.sheet, { ext: '.png' });
  await chooseBackend(o.backend, o.threads, o.json ? undefined : stderr);
  const index = await openIndex(dir, { exact: o.exact, db: o.db });
  try {
    let queries: Query[];
    let results: Neighbor[][];
    if (o.id?.length) {
      queries = o.id.map((id) => {
        const row = index.row(id);
        if (row === undefined) throw new UserError(`--id: '${id}' is not in the index ${dir} (ids are paths relative to ${rootOf(index.manifest) ?? 'the source'})`);
        return { label: id, row, file: imageFile(index.manifest, id) };
      });
      const vecs = new Float32Array(queries.length * index.dim);
      queries.forEach((q, i) => vecs.set(index.vector(q.row!), i * index.dim));
      // The item itself is not its own neighbour: ask for one more and drop it.
      results = (await index.search(vecs, o.k + 1, { exact: o.exact })).map((nb, i) => nb.filter((n) => n.row !== queries[i].row).slice(0, o.k));
    } else {
      const files = o.image?.length ? o.image : imagesIn(o.images!);
      const embedded = await embedQueries(index, files, { checkpoint: o.checkpoint, model: o.model });
      queries = embedded.files.map((f) => ({ label: f, file: f }));
      results = await index.search(embedded.vectors, o.k, { exact: o.exact });
    }
    const out: SearchOutput = {
      queries: queries.map((q, i) => ({ query: q.label, neighbors: results[i].map((n) => ({ id: n.id, score: n.score })) })),
    };
    if (o.sheet) {
      await writeSheet(o.sheet, queries.map((q, i) => [
        { file: q.file, caption: ['query', q.label], frame: QUERY_FRAME } as SheetTile,
        ...results[i].map((n) => ({ file: imageFile(index.manifest, n.id), caption: [n.score.toFixed(5), n.id] })),
      ]), { title: `selfsup search ${path.resolve(dir)} (${index.engineName}${o.exact ? ', exact' : ''}), k=${o.k}, cosine similarity` });
    }
    if (o.json) {
      if (o.sheet) stderr(`sheet: ${path.resolve(o.sheet)}`);
      printJson(out);
    } else {
      for (const q of out.queries) {
        process.stdout.write(`${q.query}\n`);
        for (const n of q.neighbors) process.stdout.write(`  ${n.score.toFixed(4)}  ${n.id}\n`);
      }
      if (o.sheet) process.stdout.write(`sheet: ${path.resolve(o.sheet)}\n`);
    }
    return out;
  } finally {
    await index.close();
  }
}

/** Embeds query files with the index's model; undecodable ones are named and skipped. */
async function embedQueries(index: SearchIndex, files: string[], given: ModelSource): Promise<{ files: string[]; vectors: Float32Array }> {
  const m = index.manifest;
  for (const f of files) {
    if (!fs.existsSync(f)) throw new UserError(`--image: ${f} does not exist`);
    if (fs.statSync(f).isDirectory()) throw new UserError(`--image: ${f} is a folder; give image files, or the folder with --images DIR`);
  }
  const embedder = indexEmbedder(m, given);
  try {
    const good: string[] = [];
    const parts: Float32Array[] = [];
    for (let s = 0; s < files.length; s += 64) {
      const chunk = files.slice(s, s + 64);
      const d = await decodeFiles(chunk, m.preprocessing);
      for (const f of d.failed) stderr(`selfsup: warning: cannot decode query image ${chunk[f.index]} (${f.reason}); skipped`);
      if (!d.batch) continue;
      parts.push(await embedder.embed(d.batch));
      good.push(...d.ok.map((i) => chunk[i]));
    }
    if (good.length === 0) throw new UserError(`search: none of the ${files.length} query image(s) could be decoded (first: ${files[0]})`);
    const vectors = new Float32Array(good.length * index.dim);
    let o = 0;
    for (const p of parts) { vectors.set(p, o); o += p.length; }
    return { files: good, vectors };
  } finally {
    embedder.dispose();
  }
}

function imagesIn(dir: string): string[] {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UserError(`--images: ${dir} is not a folder`);
  const rels = listImages(dir, {});
  if (rels.length === 0) throw new UserError(`--images: no images in ${dir}`);
  return rels.map((r) => path.join(dir, r));
}

function rootOf(m: IndexManifest): string | undefined {
  return m.source.kind === 'folder' ? m.source.root : undefined;
}

/** The file behind an id (image-folder indexes only). */
export function imageFile(m: IndexManifest, id: string): string | undefined {
  const root = rootOf(m);
  return root ? path.join(root, id) : undefined;
}
