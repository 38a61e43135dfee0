// The search commands' contract: --json shapes on the last stdout line, a
// contact sheet and CSV, and bad input exiting 2 with one line naming what is wrong.
import * as tf from '@tensorflow/tfjs';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { dedupSubcommand } from '../src/cli/dedup.ts';
import { embedSubcommand } from '../src/cli/embed.ts';
import { searchSubcommand } from '../src/cli/search.ts';
import { UserError } from '../src/util/errors.ts';
import { lastJson, name, pictureFolder, plantNearDuplicates, selfsupAsync, tempDir, tinyCheckpoint } from './search-fixtures.ts';

/** Runs an in-process subcommand, returning what it printed on stdout. */
async function captured(f: () => Promise<unknown>): Promise<string> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => { out += String(s); return true; });
  try { await f(); } finally { spy.mockRestore(); }
  return out;
}

describe('selfsup embed / search / dedup (command)', () => {
  let run: string;
  let images: string;
  let index: string;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    ({ run } = await tinyCheckpoint());
    images = await pictureFolder(12);
    await plantNearDuplicates(join(images, name(5)), join(images, 'p005'));
    index = join(tempDir('selfsup-cli-idx-'), 'idx');
  });
  afterEach(() => vi.restoreAllMocks());

  it('embed --json, search --json (ids and images), --sheet', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const e = lastJson(await captured(() => embedSubcommand(undefined, {
      checkpoint: run, images, out: index, engine: 'hnsw', set: [], backend: 'cpu', json: true, quiet: true,
    })));
    expect(e).toMatchObject({ count: 14, added: 14, engine: 'hnsw', dim: 16 });
    const sheet = join(tempDir('selfsup-cli-sheet-'), 'sheet.png');
    const s = lastJson(await captured(() => searchSubcommand(index, { id: [name(5), name(1)], k: 3, json: true, backend: 'cpu', sheet })));
    const queries = s.queries as { query: string; neighbors: { id: string; score: number }[] }[];
    expect(queries.map((q) => q.query)).toEqual([name(5), name(1)]);
    for (const q of queries) {
      expect(q.neighbors).toHaveLength(3);
      expect(q.neighbors.map((n) => n.id)).not.toContain(q.query);
      for (const n of q.neighbors) expect(Object.keys(n).sort()).toEqual(['id', 'score']);
      expect(q.neighbors[0].score).toBeGreaterThanOrEqual(q.neighbors[2].score);
    }
    expect(queries[0].neighbors.slice(0, 2).map((n) => n.id).sort()).toEqual(['p005-crop.png', 'p005-q70.jpg']);
    const png = PNG.sync.read(readFileSync(sheet));
    expect(png.width).toBeGreaterThan(4 * 96);
    expect(png.height).toBeGreaterThan(2 * 96);
    // A query image: the copy in the folder is its own best match; the bad file is named and skipped.
    const junk = join(tempDir('selfsup-cli-q-'), 'junk.png');
    writeFileSync(junk, 'not a picture');
    const img = lastJson(await captured(() => searchSubcommand(index, { image: [join(images, name(3)), junk], k: 2, json: true, backend: 'cpu', exact: true })));
    const iq = img.queries as { query: string; neighbors: { id: string; score: number }[] }[];
    expect(iq).toHaveLength(1);
    expect(iq[0].neighbors[0].id).toBe(name(3));
    expect(iq[0].neighbors[0].score).toBeCloseTo(1, 5);
    expect(stderr.mock.calls.map((c) => String(c[0])).join('')).toMatch(/cannot decode query image .*junk\.png.*skipped/);
  });

  it('dedup --json with --csv and --sheet', async () => {
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const dir = tempDir('selfsup-cli-dedup-');
    const d = lastJson(await captured(() => dedupSubcommand(index, { json: true, csv: join(dir, 'g.csv'), sheet: join(dir, 'g.png'), backend: 'cpu' })));
    expect(d).toMatchObject({ count: 14, exact_groups: 0, near_groups: 1 });
    expect(d.threshold_source).toMatch(/^default/);
    expect(d.groups).toEqual([{
      kind: 'near',
      members: [
        { id: 'p005-crop.png', similarity: 1, identical: true },
        { id: 'p005-q70.jpg', similarity: expect.any(Number), identical: false },
        { id: 'p005.png', similarity: expect.any(Number), identical: false },
      ],
    }]);
    const csv = readFileSync(join(dir, 'g.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('group,kind,id,similarity,identical');
    expect(csv.slice(1).map((l) => l.split(',')[2])).toEqual(['p005-crop.png', 'p005-q70.jpg', 'p005.png']);
    expect(existsSync(join(dir, 'g.png'))).toBe(true);
  });

  it('bad input exits 2 with one line: fingerprint mismatch, nothing decodable, damaged index, bad flags', async () => {
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const other = await tinyCheckpoint('someone else');
    const junk = join(tempDir('selfsup-cli-q-'), 'junk.jpg');
    writeFileSync(junk, 'nope');
    const brokenIdx = join(tempDir('selfsup-cli-broken-'), 'idx');
    // Two through the real command (exit code, one line on stderr, no stack), run side by side...
    const spawned: [string[], RegExp][] = [
      [['search', index, '--image', join(images, name(0)), '--checkpoint', other.run, '--backend', 'cpu'], new RegExp(`fingerprint mismatch: .*${other.fingerprint}`)],
      [['search', index, '--image', junk, '--backend', 'cpu'], /cannot decode query image .*junk\.jpg.*\n.*none of the 1 query image/],
    ];
    const results = await Promise.all(spawned.map(([args]) => selfsupAsync(...args)));
    results.forEach((r, i) => {
      expect(r.code, spawned[i][0].join(' ')).toBe(2);
      expect(r.err).toMatch(spawned[i][1]);
      expect(r.err).not.toMatch(/\n\s+at .*\.(ts|js):\d+/);
    });
    // ...the rest in process: a UserError is what main() turns into exit 2.
    const inProcess: [() => Promise<unknown>, RegExp][] = [
      [() => searchSubcommand(brokenIdx, { id: ['x'], k: 3, backend: 'cpu' }), /index folder does not exist/],
      [() => searchSubcommand(index, { id: ['no-such.png'], k: 3, backend: 'cpu' }), /--id: 'no-such\.png' is not in the index/],
      [() => searchSubcommand(index, { k: 3, backend: 'cpu' }), /give the queries with one of/],
      [() => dedupSubcommand(index, { threshold: 7, backend: 'cpu' }), /--threshold: expected a cosine similarity/],
      [() => embedSubcommand(undefined, { checkpoint: run, images: join(images, 'missing'), out: brokenIdx, engine: 'hnsw', set: [], backend: 'cpu' }), /--images: .*missing is not a folder/],
      [() => embedSubcommand(undefined, { images, out: brokenIdx, engine: 'hnsw', set: [], backend: 'cpu' }), /--checkpoint PATH or --model DIR/],
    ];
    for (const [f, pattern] of inProcess) await expect(f()).rejects.toThrow(pattern);
    for (const [f] of inProcess) await expect(f()).rejects.toThrow(UserError);
  }, 120_000);
});
