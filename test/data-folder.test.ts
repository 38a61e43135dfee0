// Image folders: class subfolders and flat folders of PNG/JPEG written here,
// centre crops, grayscale, file lists and globs, corrupt and empty inputs, and
// the decode cache being reused and rebuilt.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { closeSplits, openSplits } from '../src/data/index.ts';
import { UserError } from '../src/util/errors.ts';
import { dataConfig, hwc, imageAt, sameBytes, tempDir, writeImage } from './data-fixtures.ts';

const dirs: string[] = [];
const mk = (label: string) => { const d = tempDir(label); dirs.push(d); return d; };
afterAll(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });

function logger() {
  const lines: string[] = [];
  return { lines, log: (m: string) => { lines.push(m); } };
}

/** root/cat/{0,1}.png, root/dog/2.png: 8x8 pattern images 0, 1, 2. */
async function classFolder(root: string) {
  await writeImage(path.join(root, 'cat', '0.png'), 0, 8, 8);
  await writeImage(path.join(root, 'cat', '1.png'), 1, 8, 8);
  await writeImage(path.join(root, 'dog', '2.png'), 2, 8, 8);
}

const cfg = (root: string, cache: string, over = {}) => dataConfig({ source: 'folder', path: root, cache, image_size: 8, channels: 3, ...over });

describe('image folder', () => {
  it('class subfolders: labels from folder names, PNG pixels exact', async () => {
    const root = mk('fold');
    await classFolder(root);
    const { log } = logger();
    const s = await openSplits(cfg(root, mk('cache'), { eval_test: 'none' }), { seed: 0, cacheDir: '', log });
    expect(s.pretrain.classNames).toEqual(['cat', 'dog']);
    expect(Array.from(s.pretrain.labels!)).toEqual([0, 0, 1]);
    expect(s.evalTrain).toBe(s.pretrain);
    const b = await s.pretrain.read([2, 0, 1]);
    [2, 0, 1].forEach((j, k) => expect(sameBytes(imageAt(b.data, k, 192), hwc(j, 8, 8, 3))).toBe('same'));
    closeSplits(s);
  });

  it('JPEG decodes close to the original; non-square images are centre-cropped', async () => {
    const root = mk('fold-jpg');
    await writeImage(path.join(root, 'a.jpg'), 5, 8, 8, 'jpeg');
    await writeImage(path.join(root, 'wide.png'), 6, 8, 16); // 8 high, 16 wide: columns 4..11 survive
    const s = await openSplits(cfg(root, mk('cache')), { seed: 0, cacheDir: '', log: () => {} });
    expect(s.pretrain.labels).toBeUndefined();
    expect(s.evalTrain).toBeUndefined(); // unlabelled flat folder: no evaluation by default
    const b = await s.pretrain.read([0, 1]);
    const want = hwc(5, 8, 8, 3);
    let err = 0;
    for (let i = 0; i < 192; i++) err += Math.abs(b.data[i] - want[i]);
    expect(err / 192).toBeLessThan(20); // lossy, and the pattern wraps around 255 -> 0 (hard edges)
    const sharp = (await import('sharp')).default;
    const direct = await sharp(path.join(root, 'a.jpg')).raw().toBuffer();
    expect(sameBytes(imageAt(b.data, 0, 192), direct)).toBe('same');
    const wide = hwc(6, 8, 16, 3);
    const crop = new Uint8Array(192);
    for (let y = 0; y < 8; y++) crop.set(wide.subarray((y * 16 + 4) * 3, (y * 16 + 12) * 3), y * 24);
    expect(sameBytes(imageAt(b.data, 1, 192), crop)).toBe('same');
    closeSplits(s);
  });

  it('grayscale: one channel, gray pixels keep their value; resize changes the shape', async () => {
    const root = mk('fold-gray');
    const sharp = (await import('sharp')).default;
    const gray = Buffer.alloc(16 * 16 * 3);
    for (let p = 0; p < 256; p++) gray[3 * p] = gray[3 * p + 1] = gray[3 * p + 2] = p % 16 < 8 ? 40 : 200;
    await sharp(gray, { raw: { width: 16, height: 16, channels: 3 } }).png().toFile(path.join(root, 'g.png'));
    const s = await openSplits(cfg(root, mk('cache'), { channels: 1, image_size: 16 }), { seed: 0, cacheDir: '', log: () => {} });
    const b = await s.pretrain.read([0]);
    expect(b.channels).toBe(1);
    expect(Array.from(b.data.subarray(0, 16))).toEqual([...Array(8).fill(40), ...Array(8).fill(200)]);
    closeSplits(s);
    const small = await openSplits(cfg(root, mk('cache'), { channels: 3, image_size: 8 }), { seed: 0, cacheDir: '', log: () => {} });
    const c = await small.pretrain.read([0]);
    expect([c.height, c.width, c.channels, c.data.length]).toEqual([8, 8, 3, 192]);
    expect(c.data[0]).toBeLessThan(60); // left half dark, right half bright after downscaling
    expect(c.data[7 * 3]).toBeGreaterThan(180);
    closeSplits(small);
  });

  it('train/ and val/ subfolders are picked by auto; glob and file lists select files', async () => {
    const root = mk('fold-tv');
    await classFolder(path.join(root, 'train'));
    await writeImage(path.join(root, 'val', 'cat', '9.png'), 9, 8, 8);
    await writeImage(path.join(root, 'val', 'dog', '8.jpg'), 8, 8, 8, 'jpeg');
    const cache = mk('cache');
    const s = await openSplits(cfg(root, cache), { seed: 0, cacheDir: '', log: () => {} });
    expect([s.pretrain.n, s.evalTrain!.n, s.evalTest!.n]).toEqual([3, 3, 2]);
    expect(Array.from(s.evalTest!.labels!)).toEqual([0, 1]);
    closeSplits(s);
    const g = await openSplits(cfg(root, cache, { glob: '**/*.png' }), { seed: 0, cacheDir: '', log: () => {} });
    expect(g.evalTest!.n).toBe(1);
    closeSplits(g);
    const list = path.join(root, 'list.txt');
    fs.writeFileSync(list, '# chosen\ntrain/cat/1.png\ntrain/dog/2.png\n\nval/cat/9.png\n');
    const f = await openSplits(cfg(root, cache, { files: list, eval_test: 'val' }), { seed: 0, cacheDir: '', log: () => {} });
    expect([f.pretrain.n, f.evalTest!.n]).toEqual([2, 1]);
    expect(f.evalTest!.classNames).toEqual(['cat']);
    const b = await f.pretrain.read([0]);
    expect(sameBytes(b.data, hwc(1, 8, 8, 3))).toBe('same');
    closeSplits(f);
    await expect(openSplits(cfg(root, cache, { files: ['train/cat/nope.png'] }), { seed: 0, cacheDir: '', log: () => {} }))
      .rejects.toThrow(/data\.files: listed image .*nope\.png does not exist/);
  });

  it('glob patterns: * stays in a folder, **/ spans folders, {a,b} and [..] alternatives', async () => {
    const { globToRegExp } = await import('../src/data/glob.ts');
    const m = (g: string, p: string) => globToRegExp(g).test(p);
    expect([m('**/*.png', 'a.png'), m('**/*.png', 'x/y/a.png'), m('**/*.png', 'a.jpg')]).toEqual([true, true, false]);
    expect([m('*.png', 'a.png'), m('*.png', 'x/a.png')]).toEqual([true, false]);
    expect([m('{cat,dog}/*.jp?g', 'dog/1.jpeg'), m('{cat,dog}/*.jp?g', 'cow/1.jpg'), m('[cd]*/?.png', 'cat/1.png')]).toEqual([true, false, true]);
    expect([m('a.b', 'a.b'), m('a.b', 'axb'), m('a+(b)', 'a+(b)')]).toEqual([true, false, true]);
    expect(() => globToRegExp('{a,b')).toThrow(UserError);
  });

  it('labels: folders requires class subfolders; labels: none ignores them', async () => {
    const root = mk('fold-labels');
    await classFolder(root);
    const none = await openSplits(cfg(root, mk('cache'), { labels: 'none' }), { seed: 0, cacheDir: '', log: () => {} });
    expect([none.pretrain.labels, none.evalTrain, none.evalTest]).toEqual([undefined, undefined, undefined]);
    closeSplits(none);
    await writeImage(path.join(root, 'stray.png'), 4, 8, 8);
    const auto = await openSplits(cfg(root, mk('cache')), { seed: 0, cacheDir: '', log: () => {} });
    expect([auto.pretrain.n, auto.pretrain.labels]).toEqual([4, undefined]); // a loose image makes it unlabelled
    closeSplits(auto);
    await expect(openSplits(cfg(root, mk('cache'), { labels: 'folders' }), { seed: 0, cacheDir: '', log: () => {} }))
      .rejects.toThrow(/stray\.png is not inside a class subfolder; with data\.labels: folders/);
  });

  it('labelled flat root: eval_test holdout is stratified, disjoint and kept out of pretraining', async () => {
    const root = mk('fold-hold');
    for (let i = 0; i < 10; i++) await writeImage(path.join(root, i < 6 ? 'a' : 'b', `${i}.png`), i, 8, 8);
    const s = await openSplits(cfg(root, mk('cache'), { test_fraction: 0.5 }), { seed: 3, cacheDir: '', log: () => {} });
    expect(s.evalTest!.n).toBe(5);
    expect(Array.from(s.evalTest!.labels!).sort()).toEqual([0, 0, 0, 1, 1]);
    expect(s.pretrain).toBe(s.evalTrain);
    const seen = new Set<string>();
    for (const ds of [s.evalTrain!, s.evalTest!]) {
      const b = await ds.read(Array.from({ length: ds.n }, (_, i) => i));
      for (let k = 0; k < ds.n; k++) seen.add(Buffer.from(imageAt(b.data, k, 192)).toString('hex'));
    }
    expect(seen.size).toBe(10);
    closeSplits(s);
  });

  it('corrupt images are skipped with a warning naming and counting them, or exit 2 under strict', async () => {
    const root = mk('fold-bad');
    await classFolder(root);
    const good = fs.readFileSync(path.join(root, 'cat', '1.png'));
    fs.writeFileSync(path.join(root, 'cat', '1.png'), good.subarray(0, good.length - 40)); // truncated
    fs.writeFileSync(path.join(root, 'dog', 'junk.jpg'), 'this is not a JPEG');
    const cache = mk('cache');
    const { lines, log } = logger();
    const s = await openSplits(cfg(root, cache, { eval_test: 'none' }), { seed: 0, cacheDir: '', log });
    expect(s.pretrain.n).toBe(2);
    expect(Array.from(s.pretrain.labels!)).toEqual([0, 1]);
    expect(lines.some((l) => l.includes(path.join(root, 'cat', '1.png')) && l.includes('[1 skipped so far]'))).toBe(true);
    expect(lines.some((l) => l.includes(path.join(root, 'dog', 'junk.jpg')) && l.includes('[2 skipped so far]'))).toBe(true);
    expect(lines.some((l) => /2 of 4 images skipped/.test(l))).toBe(true);
    const b = await s.pretrain.read([0, 1]);
    expect(sameBytes(imageAt(b.data, 1, 192), hwc(2, 8, 8, 3))).toBe('same');
    closeSplits(s);
    // Strict: from the cache built above, and when building afresh.
    await expect(openSplits(cfg(root, cache, { strict: true }), { seed: 0, cacheDir: '', log: () => {} })).rejects.toThrow(UserError);
    await expect(openSplits(cfg(root, mk('cache'), { strict: true }), { seed: 0, cacheDir: '', log: () => {} }))
      .rejects.toThrow(new RegExp(`${path.join(root, 'cat', '1.png')}: cannot decode image .*data\\.strict is true`));
  });

  it('empty folders and missing paths are exit-2 errors naming the path', async () => {
    const root = mk('fold-empty');
    fs.writeFileSync(path.join(root, 'notes.txt'), 'no images here');
    const o = { seed: 0, cacheDir: mk('cache'), log: () => {} };
    await expect(openSplits(cfg(root, ''), o)).rejects.toThrow(UserError);
    await expect(openSplits(cfg(root, ''), o)).rejects.toThrow(new RegExp(`no images in ${root}; expected image files`));
    await expect(openSplits(cfg(path.join(root, 'nope'), ''), o)).rejects.toThrow(/data\.path: .*nope does not exist/);
    await writeImage(path.join(root, 'x', '0.png'), 0, 8, 8);
    await expect(openSplits(cfg(root, '', { pretrain: 'y' }), o)).rejects.toThrow(/no images in .*\/y; .*\(the folder does not exist\)/);
  });

  it('the decode cache is reused by later runs and rebuilt when a file changes', async () => {
    const root = mk('fold-cache');
    await classFolder(root);
    const cache = mk('cache');
    const run = async () => {
      const { lines, log } = logger();
      const s = await openSplits(cfg(root, cache, { eval_test: 'none' }), { seed: 0, cacheDir: '', log });
      const b = await s.pretrain.read([0, 1, 2]);
      closeSplits(s);
      return { decoded: lines.some((l) => l.startsWith('data: decoding 3 images')), cached: lines.some((l) => l.includes('from cache')), data: b.data };
    };
    const first = await run();
    expect([first.decoded, first.cached]).toEqual([true, false]);
    const files = fs.readdirSync(cache).sort();
    expect(files.filter((f) => f.endsWith('.u8'))).toHaveLength(1);
    expect(fs.statSync(path.join(cache, files.find((f) => f.endsWith('.u8'))!)).size).toBe(3 * 192);
    const second = await run();
    expect([second.decoded, second.cached]).toEqual([false, true]);
    expect(sameBytes(second.data, first.data)).toBe('same');
    // Same size, new content, new mtime: the key changes, the cache is rebuilt and the old one removed.
    await writeImage(path.join(root, 'cat', '1.png'), 7, 8, 8);
    const later = new Date(Date.now() + 5000);
    fs.utimesSync(path.join(root, 'cat', '1.png'), later, later);
    const third = await run();
    expect([third.decoded, third.cached]).toEqual([true, false]);
    expect(sameBytes(imageAt(third.data, 1, 192), hwc(7, 8, 8, 3))).toBe('same');
    expect(fs.readdirSync(cache).filter((f) => f.endsWith('.u8'))).toHaveLength(1);
    // A different size is a different cache, next to the first.
    const s = await openSplits(cfg(root, cache, { eval_test: 'none', image_size: 4 }), { seed: 0, cacheDir: '', log: () => {} });
    expect(s.pretrain.height).toBe(4);
    closeSplits(s);
    expect(fs.readdirSync(cache).filter((f) => f.endsWith('.u8'))).toHaveLength(2);
  });
});
