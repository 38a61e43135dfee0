// IDX, CIFAR-10/100 and STL-10 round trips on files the tests write, and the
// errors for malformed ones.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { closeSplits, openSplits } from '../src/data/index.ts';
import type { Dataset } from '../src/data/types.ts';
import { UserError } from '../src/util/errors.ts';
import { cifarRecords, dataConfig, hwc, imageAt, sameBytes, stlImages, tempDir, writeIdx } from './data-fixtures.ts';

const dirs: string[] = [];
const mk = (label: string) => { const d = tempDir(label); dirs.push(d); return d; };
afterAll(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });

async function expectImages(ds: Dataset, firstPattern: (k: number) => number, h: number, w: number, c: number) {
  // Reversed (one read per record, order must follow the request), then in order
  // (consecutive records are read as runs, across file boundaries).
  const reversed = Array.from({ length: ds.n }, (_, k) => ds.n - 1 - k);
  for (const idx of [reversed, [...reversed].reverse()]) {
    const b = await ds.read(idx);
    expect([b.n, b.height, b.width, b.channels]).toEqual([ds.n, h, w, c]);
    idx.forEach((j, k) => expect(sameBytes(imageAt(b.data, k, h * w * c), hwc(firstPattern(j), h, w, c))).toBe('same'));
  }
}

const opts = { seed: 1, cacheDir: '', log: () => {} };

describe('IDX', () => {
  for (const gzip of [true, false]) {
    it(`round-trips images and labels (${gzip ? 'gzip' : 'raw'})`, async () => {
      const dir = mk('idx');
      const ext = gzip ? '.gz' : '';
      const img = (n: number, first: number) => Uint8Array.from(Array.from({ length: n }, (_, i) => Array.from(hwc(first + i, 5, 4, 1))).flat());
      writeIdx(path.join(dir, `train-images-idx3-ubyte${ext}`), [6, 5, 4], img(6, 0), gzip);
      writeIdx(path.join(dir, `train-labels-idx1-ubyte${ext}`), [6], Uint8Array.from([3, 1, 4, 1, 5, 9]), gzip);
      writeIdx(path.join(dir, `t10k-images-idx3-ubyte${ext}`), [2, 5, 4], img(2, 100), gzip);
      writeIdx(path.join(dir, `t10k-labels-idx1-ubyte${ext}`), [2], Uint8Array.from([2, 7]), gzip);
      const s = await openSplits(dataConfig({ source: 'idx', path: dir, image_size: 5 }), opts);
      // 5x4 is not square: the split is fitted to 5x5 by cover + centre crop, so compare the raw one too.
      expect(s.pretrain.height).toBe(5);
      closeSplits(s);
      const { openIdxDataset } = await import('../src/data/idx.ts');
      const raw = await openIdxDataset('t', path.join(dir, `train-images-idx3-ubyte${ext}`), path.join(dir, `train-labels-idx1-ubyte${ext}`));
      expect(Array.from(raw.labels!)).toEqual([3, 1, 4, 1, 5, 9]);
      await expectImages(raw, (j) => j, 5, 4, 1);
      raw.close();
      const sq = await openSplits(dataConfig({ source: 'idx', path: dir, image_size: 8, pretrain: 'train', eval_test: 'test' }), opts);
      expect(Array.from(sq.evalTest!.labels!)).toEqual([2, 7]);
      expect(sq.evalTrain).toBe(sq.pretrain);
      closeSplits(sq);
    });
  }

  it('square IDX at native size is served unchanged through openSplits', async () => {
    const dir = mk('idx-sq');
    const img = Uint8Array.from(Array.from({ length: 3 }, (_, i) => Array.from(hwc(i, 8, 8, 1))).flat());
    writeIdx(path.join(dir, 'train-images-idx3-ubyte.gz'), [3, 8, 8], img, true);
    writeIdx(path.join(dir, 'train-labels-idx1-ubyte.gz'), [3], Uint8Array.from([0, 1, 2]), true);
    const s = await openSplits(dataConfig({ source: 'idx', path: dir, image_size: 8, eval_test: 'none' }), opts);
    await expectImages(s.pretrain, (j) => j, 8, 8, 1);
    expect(s.evalTest).toBeUndefined();
    closeSplits(s);
  });

  it('rejects a wrong magic number, a truncated file and a count mismatch with exit-2 errors', async () => {
    const dir = mk('idx-bad');
    const { openIdxDataset } = await import('../src/data/idx.ts');
    const bad = path.join(dir, 'bad-idx3-ubyte');
    fs.writeFileSync(bad, Buffer.from([0x1f, 0x8b, 0x08, 0x03, 0, 0, 0, 1]));
    await expect(openIdxDataset('t', bad)).rejects.toThrow(UserError);
    await expect(openIdxDataset('t', bad)).rejects.toThrow(/bad-idx3-ubyte: wrong IDX magic number 0x1f 0x8b 0x08 0x03; expected 0x00 0x00 0x08/);
    const short = path.join(dir, 'short-idx3-ubyte');
    writeIdx(short, [4, 3, 3], new Uint8Array(4 * 9), false);
    fs.truncateSync(short, 16 + 20);
    await expect(openIdxDataset('t', short)).rejects.toThrow(/short-idx3-ubyte: 36 bytes, but its IDX header \(sizes 4 x 3 x 3\) needs exactly 52/);
    const imgs = path.join(dir, 'i-idx3-ubyte.gz');
    const labs = path.join(dir, 'l-idx1-ubyte.gz');
    writeIdx(imgs, [2, 3, 3], new Uint8Array(18), true);
    writeIdx(labs, [3], new Uint8Array(3), true);
    await expect(openIdxDataset('t', imgs, labs)).rejects.toThrow(/3 labels, but .* has 2 images/);
    fs.writeFileSync(path.join(dir, 'x.gz'), 'not gzip');
    await expect(openIdxDataset('t', path.join(dir, 'x.gz'))).rejects.toThrow(/not a valid gzip file/);
    await expect(openIdxDataset('t', path.join(dir, 'missing-idx3-ubyte'))).rejects.toThrow(/missing-idx3-ubyte: cannot open \(ENOENT\)/);
  });
});

describe('CIFAR', () => {
  it('CIFAR-10: several batch files, planar pixels to HWC, labels and class names', async () => {
    const root = mk('c10');
    const dir = path.join(root, 'cifar-10-batches-bin'); // the archive's own folder is found from its parent
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'data_batch_1.bin'), cifarRecords([[3], [0], [9]], 0));
    fs.writeFileSync(path.join(dir, 'data_batch_2.bin'), cifarRecords([[5], [5]], 3));
    fs.writeFileSync(path.join(dir, 'test_batch.bin'), cifarRecords([[1]], 50));
    const names = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
    fs.writeFileSync(path.join(dir, 'batches.meta.txt'), names.join('\n') + '\n\n');
    const s = await openSplits(dataConfig({ source: 'cifar10', path: root, image_size: 32, channels: 3 }), opts);
    expect(s.pretrain.n).toBe(5);
    expect(Array.from(s.pretrain.labels!)).toEqual([3, 0, 9, 5, 5]);
    expect(s.pretrain.classNames).toEqual(names);
    await expectImages(s.pretrain, (j) => j, 32, 32, 3);
    await expectImages(s.evalTest!, () => 50, 32, 32, 3);
    expect(Array.from(s.evalTest!.labels!)).toEqual([1]);
    closeSplits(s);
  });

  it('CIFAR-100: fine and coarse labels; train+test union', async () => {
    const dir = mk('c100');
    fs.writeFileSync(path.join(dir, 'train.bin'), cifarRecords([[4, 72], [19, 99], [0, 0]], 0));
    fs.writeFileSync(path.join(dir, 'test.bin'), cifarRecords([[7, 33]], 10));
    const fine = await openSplits(dataConfig({ source: 'cifar100', path: dir, image_size: 32, channels: 3, pretrain: 'train+test' }), opts);
    expect(Array.from(fine.evalTrain!.labels!)).toEqual([72, 99, 0]);
    expect(fine.evalTrain!.classNames).toHaveLength(100);
    expect(fine.pretrain.n).toBe(4);
    expect(Array.from(fine.pretrain.labels!)).toEqual([72, 99, 0, 33]);
    await expectImages(fine.pretrain, (j) => (j < 3 ? j : 10), 32, 32, 3);
    closeSplits(fine);
    const coarse = await openSplits(dataConfig({ source: 'cifar100', path: dir, image_size: 32, channels: 3, label_mode: 'coarse' }), opts);
    expect(Array.from(coarse.evalTrain!.labels!)).toEqual([4, 19, 0]);
    expect(Array.from(coarse.evalTest!.labels!)).toEqual([7]);
    expect(coarse.evalTrain!.classNames).toHaveLength(20);
    closeSplits(coarse);
  });

  it('rejects a file of the wrong size, a missing file and out-of-range labels', async () => {
    const dir = mk('c-bad');
    fs.writeFileSync(path.join(dir, 'data_batch_1.bin'), cifarRecords([[1], [2]], 0).subarray(0, 3073 + 100));
    fs.writeFileSync(path.join(dir, 'test_batch.bin'), cifarRecords([[1]], 0));
    const cfg = dataConfig({ source: 'cifar10', path: dir, image_size: 32, channels: 3 });
    await expect(openSplits(cfg, opts)).rejects.toThrow(UserError);
    await expect(openSplits(cfg, opts)).rejects.toThrow(/data_batch_1\.bin: 3173 bytes is not a whole number of cifar10 records; expected a multiple of 3073 bytes/);
    fs.rmSync(path.join(dir, 'data_batch_1.bin'));
    await expect(openSplits(cfg, opts)).rejects.toThrow(/data_batch_1\.bin does not exist; expected the cifar10 binary version/);
    // A CIFAR-100 file read as CIFAR-10 has the wrong record size or labels.
    fs.writeFileSync(path.join(dir, 'data_batch_1.bin'), cifarRecords([[12]], 0));
    await expect(openSplits(cfg, opts)).rejects.toThrow(/record 0 has label 12; expected 0\.\.9 for cifar10/);
    await expect(openSplits(dataConfig({ source: 'cifar10', path: path.join(dir, 'nope') }), opts)).rejects.toThrow(/data\.path: .*nope does not exist/);
    await expect(openSplits(dataConfig({ source: 'cifar10' }), opts)).rejects.toThrow(/data\.path: required for source cifar10/);
  });
});

describe('STL-10', () => {
  function writeStl(root: string) {
    const dir = path.join(root, 'stl10_binary');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'train_X.bin'), stlImages(2, 0));
    fs.writeFileSync(path.join(dir, 'train_y.bin'), Buffer.from([1, 10]));
    fs.writeFileSync(path.join(dir, 'test_X.bin'), stlImages(1, 20));
    fs.writeFileSync(path.join(dir, 'test_y.bin'), Buffer.from([4]));
    fs.writeFileSync(path.join(dir, 'unlabeled_X.bin'), stlImages(3, 40));
    return dir;
  }

  it('column-major planes to HWC; labels 1..10 to 0..9; train+unlabeled pretraining by default', async () => {
    const root = mk('stl');
    writeStl(root);
    const s = await openSplits(dataConfig({ source: 'stl10', path: root, image_size: 96, channels: 3 }), opts);
    expect(s.pretrain.n).toBe(5);
    expect(s.pretrain.labels).toBeUndefined(); // the unlabeled part has none
    await expectImages(s.pretrain, (j) => (j < 2 ? j : 40 + j - 2), 96, 96, 3);
    expect(Array.from(s.evalTrain!.labels!)).toEqual([0, 9]);
    expect(Array.from(s.evalTest!.labels!)).toEqual([3]);
    await expectImages(s.evalTest!, () => 20, 96, 96, 3);
    closeSplits(s);
    const u = await openSplits(dataConfig({ source: 'stl10', path: root, image_size: 96, channels: 3, pretrain: 'unlabeled' }), opts);
    await expectImages(u.pretrain, (j) => 40 + j, 96, 96, 3);
    closeSplits(u);
  });

  it('resizes on read when the recipe asks for another size', async () => {
    const root = mk('stl-small');
    writeStl(root);
    const s = await openSplits(dataConfig({ source: 'stl10', path: root, image_size: 48, channels: 1, pretrain: 'train' }), opts);
    const b = await s.pretrain.read([1]);
    expect([b.height, b.width, b.channels]).toEqual([48, 48, 1]);
    const { convertChannels, resizeHWC } = await import('../src/data/resize.ts');
    expect(sameBytes(b.data, resizeHWC(convertChannels(hwc(1, 96, 96, 3), 96 * 96, 3, 1), 96, 96, 1, 48, 48))).toBe('same');
    closeSplits(s);
  });

  it('rejects wrong sizes, label count mismatches, bad labels and unlabelled eval splits', async () => {
    const root = mk('stl-bad');
    const dir = writeStl(root);
    const cfg = dataConfig({ source: 'stl10', path: root, image_size: 96, channels: 3 });
    fs.writeFileSync(path.join(dir, 'test_y.bin'), Buffer.from([4, 4]));
    await expect(openSplits(cfg, opts)).rejects.toThrow(/test_y\.bin: 2 labels, but its images file holds 1/);
    fs.writeFileSync(path.join(dir, 'test_y.bin'), Buffer.from([0]));
    await expect(openSplits(cfg, opts)).rejects.toThrow(/test_y\.bin: label 0 at position 0; expected 1\.\.10/);
    fs.writeFileSync(path.join(dir, 'test_y.bin'), Buffer.from([4]));
    await expect(openSplits({ ...cfg, eval_train: 'unlabeled' }, opts)).rejects.toThrow(/data\.eval_train: split 'unlabeled' has no labels/);
    await expect(openSplits({ ...cfg, pretrain: 'extra' }, opts)).rejects.toThrow(/data\.pretrain: unknown split 'extra'; expected train, test, unlabeled/);
    fs.appendFileSync(path.join(dir, 'unlabeled_X.bin'), Buffer.alloc(10));
    await expect(openSplits(cfg, opts)).rejects.toThrow(/unlabeled_X\.bin: 82954 bytes is not a whole number of STL-10 images; expected a multiple of 27648/);
  });
});
