// selfsup embed: the index folder's contents, incremental updates equal to a
// full rebuild, a kill -9 mid-run resumed without duplicates or holes, and
// damaged folders refused with the file named.
import * as tf from '@tensorflow/tfjs';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, cpSync, existsSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, utimesSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { embedImages } from '../src/search/embed.ts';
import { readManifest } from '../src/search/manifest.ts';
import { loadEmbedder, type Embedder } from '../src/search/model.ts';
import { openIndex, type SearchIndex } from '../src/search/open.ts';
import { UserError } from '../src/util/errors.ts';
import { name, pictureFolder, tempDir, tinyCheckpoint, writePicture } from './search-fixtures.ts';

const quiet = { quiet: true, log: () => {} };

/** id -> [vector, sha256, size, mtime] of an index. */
function contents(ix: SearchIndex): Map<string, [number[], string, number, number]> {
  return new Map(ix.ids.map((e, r) => [e.id, [Array.from(ix.vector(r)), e.sha256, e.size, e.mtime]]));
}

function expectSameIndex(a: SearchIndex, b: SearchIndex): void {
  const ca = contents(a);
  const cb = contents(b);
  expect([...ca.keys()].sort()).toEqual([...cb.keys()].sort());
  for (const [id, [va, ...rest]] of ca) {
    const [vb, ...restB] = cb.get(id)!;
    expect(rest).toEqual(restB);
    for (let j = 0; j < va.length; j++) expect(Math.abs(va[j] - vb[j])).toBeLessThan(1e-5);
  }
}

describe('selfsup embed', () => {
  let run: string;
  let fingerprint: string;
  let embedder: Embedder;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    ({ run, fingerprint } = await tinyCheckpoint());
    embedder = loadEmbedder({ checkpoint: run });
  });

  it('writes manifest, unit vectors, ids with size/mtime/sha256 and an hnsw graph; each image finds itself', async () => {
    const images = await pictureFolder(10);
    mkdirSync(join(images, 'sub'));
    await writePicture(join(images, 'sub', 'x.jpg'), 'subpic');
    writeFileSync(join(images, 'notes.txt'), 'not an image');
    const out = join(tempDir('selfsup-idx-'), 'index');
    const r = await embedImages({ checkpoint: run, images, out, batchSize: 4, ...quiet });
    expect(r).toMatchObject({ count: 11, added: 11, removed: 0, unchanged: 0, engine: 'hnsw', dim: 16, fingerprint });
    const m = readManifest(out);
    expect(m.model.fingerprint).toBe(fingerprint);
    expect(m.model.checkpoint).toContain(run);
    expect(m.preprocessing).toMatchObject({ size: 32, channels: 3 });
    expect(m.preprocessing.mean).toHaveLength(3);
    expect(m.source).toEqual({ kind: 'folder', root: images });
    expect(m.engine).toMatchObject({ name: 'hnsw', count: 11 });
    expect(statSync(join(out, m.vectors.file)).size).toBe(11 * 16 * 4);
    const ix = await openIndex(out);
    expect(ix.ids.map((e) => e.id)).toEqual([...Array.from({ length: 10 }, (_, i) => name(i)), 'sub/x.jpg'].sort());
    for (const e of ix.ids) {
      const bytes = readFileSync(join(images, e.id));
      expect(e.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
      expect(e.size).toBe(bytes.length);
    }
    // Row i's vector belongs to id i: embedding the file again finds that row first, at cosine 1.
    const { decodeFiles } = await import('../src/search/model.ts');
    const d = await decodeFiles(ix.ids.map((e) => join(images, e.id)), m.preprocessing);
    const hits = await ix.search(await embedder.embed(d.batch!), 1);
    hits.forEach((h, i) => { expect(h[0].row).toBe(i); expect(h[0].score).toBeCloseTo(1, 5); });
    await ix.close();
  });

  it('incremental: added, changed (bytes or mtime) and deleted files give the same index as a full rebuild', async () => {
    const images = await pictureFolder(12);
    const out = join(tempDir('selfsup-idx-'), 'inc');
    await embedImages({ embedder, images, out, batchSize: 5, ...quiet });
    // Change the folder: 3 new, 1 rewritten with another picture, 1 only touched, 2 deleted.
    for (let i = 12; i < 15; i++) await writePicture(join(images, name(i)), `pic${i}`);
    await writePicture(join(images, name(3)), 'another picture');
    const later = new Date(Date.now() + 5000);
    utimesSync(join(images, name(4)), later, later);
    rmSync(join(images, name(0)));
    rmSync(join(images, name(7)));
    const r = await embedImages({ embedder, images, out, batchSize: 5, ...quiet });
    expect(r).toMatchObject({ count: 13, added: 5, removed: 4, unchanged: 8 });
    const again = await embedImages({ embedder, images, out, batchSize: 5, ...quiet });
    expect(again).toMatchObject({ count: 13, added: 0, removed: 0, unchanged: 13 });
    const full = join(tempDir('selfsup-idx-'), 'full');
    await embedImages({ embedder, images, out: full, batchSize: 7, ...quiet });
    const a = await openIndex(out);
    const b = await openIndex(full);
    expectSameIndex(a, b);
    // The rebuilt graph answers like the fresh one.
    for (const id of [name(1), name(3), name(13)]) {
      const na = (await a.search(a.vector(a.row(id)!), 4)).flat().map((n) => n.id);
      const nb = (await b.search(b.vector(b.row(id)!), 4)).flat().map((n) => n.id);
      expect(na).toEqual(nb);
    }
    // Only the current generation's files remain.
    expect(readdirSync(out).sort()).toEqual(['manifest.json', a.manifest.vectors.file, a.manifest.ids.file, a.manifest.engine.file!].sort());
  });

  it('only new files: the saved graph is loaded and grown, and answers like brute force', async () => {
    const images = await pictureFolder(8);
    const out = join(tempDir('selfsup-idx-'), 'grow');
    await embedImages({ embedder, images, out, ...quiet });
    const before = readManifest(out).engine;
    for (let i = 8; i < 14; i++) await writePicture(join(images, name(i)), `pic${i}`);
    const lines: string[] = [];
    const r = await embedImages({ embedder, images, out, quiet: true, log: (l) => lines.push(l) });
    expect(r).toMatchObject({ count: 14, added: 6, removed: 0, unchanged: 8 });
    expect(lines).toContain('hnsw: adding 6 vectors to the saved graph of 8');
    const ix = await openIndex(out);
    expect(ix.manifest.engine.file).not.toBe(before.file);
    expect(existsSync(join(out, before.file!))).toBe(false);
    for (let row = 0; row < ix.count; row++) {
      const got = (await ix.search(ix.vector(row), 5))[0].map((n) => n.row);
      const want = (await ix.search(ix.vector(row), 5, { exact: true }))[0].map((n) => n.row);
      expect(got).toEqual(want);
    }
  });

  it('kill -9 after the first commit, torn tails, then a rerun: no duplicates, no holes', async () => {
    const images = await pictureFolder(60, 'selfsup-kill-');
    const out = join(tempDir('selfsup-idx-'), 'killed');
    const child = spawn(process.execPath, ['bin/selfsup.js', 'embed', '--checkpoint', run, '--images', images, '--out', out,
      '--batch-size', '2', '--backend', 'cpu', '--quiet'], { stdio: 'ignore' });
    let committed = 0;
    const exited = new Promise<void>((res) => child.on('exit', () => res()));
    while (committed === 0) {
      await new Promise((res) => setTimeout(res, 5));
      try { committed = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')).count; } catch { /* not there yet */ }
    }
    child.kill('SIGKILL');
    await exited;
    const m = readManifest(out);
    expect(m.count).toBeGreaterThan(0);
    expect(m.count).toBeLessThan(60); // killed mid-run, not after
    // The committed prefix is searchable by brute force; the engine is behind, so the default refuses.
    const partial = await openIndex(out, { exact: true });
    expect(partial.count).toBe(m.count);
    await expect(openIndex(out)).rejects.toThrow(/interrupted.*--exact/);
    // A kill in the middle of an append leaves bytes past the committed length.
    appendFileSync(join(out, m.vectors.file), Buffer.alloc(37, 7));
    appendFileSync(join(out, m.ids.file), '{"id":"p000.png","size":1,');
    const r = await embedImages({ embedder, images, out, batchSize: 16, ...quiet });
    expect(r.count).toBe(60);
    expect(r.added).toBe(60 - m.count);
    const ix = await openIndex(out);
    const ids = ix.ids.map((e) => e.id);
    expect(new Set(ids).size).toBe(60);
    expect([...ids].sort()).toEqual(Array.from({ length: 60 }, (_, i) => name(i)));
    const full = join(tempDir('selfsup-idx-'), 'ref');
    await embedImages({ embedder, images, out: full, batchSize: 16, ...quiet });
    expectSameIndex(ix, await openIndex(full));
  }, 120_000);

  it('recipe data: ids are split/index with labels; a rerun embeds nothing', async () => {
    const out = join(tempDir('selfsup-idx-'), 'mnist');
    const recipe = join(tempDir('selfsup-recipe-'), 'r.yaml');
    writeFileSync(recipe, 'data:\n  source: mnist\n  limit_train: 20\n  limit_test: 10\n');
    const r = await embedImages({ embedder, recipe, out, engine: 'exact', ...quiet });
    expect(r.count).toBe(30);
    const ix = await openIndex(out);
    expect(ix.ids.slice(0, 2).map((e) => e.id)).toEqual(['train/0', 'train/1']);
    expect(ix.ids[20].id).toBe('test/0');
    expect(ix.ids.every((e) => Number.isInteger(e.label))).toBe(true);
    expect(ix.manifest.source).toMatchObject({ kind: 'recipe', splits: ['train', 'test'] });
    expect(await embedImages({ embedder, recipe, out, engine: 'exact', ...quiet })).toMatchObject({ added: 0, unchanged: 30 });
  });

  describe('bad input', () => {
    let out: string;
    let images: string;
    beforeAll(async () => {
      images = await pictureFolder(6);
      out = join(tempDir('selfsup-idx-'), 'good');
      await embedImages({ embedder, images, out, ...quiet });
    });
    const damaged = (f: (dir: string, m: ReturnType<typeof readManifest>) => void) => {
      const dir = join(tempDir('selfsup-bad-'), 'idx');
      cpSync(out, dir, { recursive: true });
      f(dir, readManifest(dir));
      return dir;
    };

    it('a truncated or damaged index folder is a user error naming the file', async () => {
      const cases: [string, (d: string, m: ReturnType<typeof readManifest>) => void, RegExp][] = [
        ['vectors', (d, m) => truncateSync(join(d, m.vectors.file), 100), /vectors\.\d+\.f32: truncated/],
        ['ids', (d, m) => truncateSync(join(d, m.ids.file), 50), /ids\.\d+\.jsonl: truncated/],
        ['graph', (d, m) => truncateSync(join(d, m.engine.file!), 64), /hnsw\.\d+\.usearch: corrupt HNSW graph/],
        ['manifest', (d) => writeFileSync(join(d, 'manifest.json'), '{"format": "selfsup-index", '), /manifest\.json: unreadable/],
        ['garbage vectors', (d, m) => writeFileSync(join(d, m.vectors.file), Buffer.alloc(m.vectors.bytes, 0x41)), /vectors\.\d+\.f32: corrupt/],
        ['missing graph', (d, m) => rmSync(join(d, m.engine.file!)), /hnsw\.\d+\.usearch: missing/],
      ];
      for (const [, damage, message] of cases) {
        await expect(openIndex(damaged(damage))).rejects.toThrow(message);
        await expect(openIndex(damaged(damage))).rejects.toThrow(UserError);
      }
      await expect(openIndex(join(out, 'nope'))).rejects.toThrow(/does not exist/);
    });

    it('dimension mismatch, another model on the same index, a missing folder', async () => {
      const ix = await openIndex(out);
      await expect(ix.search(new Float32Array(5), 3)).rejects.toThrow(/dimension mismatch.*16 dimensions/);
      const other = await tinyCheckpoint('another model');
      await expect(embedImages({ checkpoint: other.run, images, out, ...quiet })).rejects.toThrow(/was built by model/);
      await expect(embedImages({ embedder, images: join(images, 'nope'), out: join(out, '..', 'x'), ...quiet })).rejects.toThrow(/--images: .* is not a folder/);
      await expect(embedImages({ model: images, images, out: join(out, '..', 'y'), ...quiet })).rejects.toThrow(/no model\.json in it/);
      expect(existsSync(join(out, '..', 'y'))).toBe(false);
    });
  });
});
