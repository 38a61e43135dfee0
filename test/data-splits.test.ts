// openSplits for the embedded MNIST, split specs (union, none, limits), and the
// JS resizer / channel conversion against hand-computed values and tfjs.
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSplits, openSplits } from '../src/data/index.ts';
import { convertChannels, resizeHWC } from '../src/data/resize.ts';
import { UserError } from '../src/util/errors.ts';
import { cifarRecords, dataConfig, sameBytes, tempDir } from './data-fixtures.ts';

const dirs: string[] = [];
afterAll(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });
beforeAll(async () => { await tf.setBackend('cpu'); });

const opts = (seed: number) => ({ seed, cacheDir: '', log: () => {} });

describe('embedded MNIST through openSplits', () => {
  it('seeded, labelled train/test splits; limits cap them', async () => {
    const s = await openSplits(dataConfig({ limit_train: 300, limit_test: 100 }), opts(5));
    expect([s.pretrain.n, s.evalTrain!.n, s.evalTest!.n]).toEqual([300, 300, 100]);
    expect([s.pretrain.height, s.pretrain.width, s.pretrain.channels]).toEqual([28, 28, 1]);
    expect(s.evalTrain!.classNames).toHaveLength(10);
    const again = await openSplits(dataConfig({ limit_train: 300, limit_test: 100 }), opts(5));
    expect(Array.from(again.evalTest!.labels!)).toEqual(Array.from(s.evalTest!.labels!));
    const a = await s.pretrain.read([0, 299]);
    const b = await again.pretrain.read([0, 299]);
    expect(sameBytes(a.data, b.data)).toBe('same');
  });

  it('fits to the recipe shape: 32x32 RGB is the 28x28 digit resized and repeated', async () => {
    const base = await openSplits(dataConfig({ limit_train: 20, limit_test: 5 }), opts(1));
    const big = await openSplits(dataConfig({ limit_train: 20, limit_test: 5, image_size: 32, channels: 3 }), opts(1));
    const g = await base.pretrain.read([3]);
    const c = await big.pretrain.read([3]);
    expect([c.height, c.width, c.channels]).toEqual([32, 32, 3]);
    expect(sameBytes(c.data, convertChannels(resizeHWC(g.data, 28, 28, 1, 32, 32), 32 * 32, 1, 3))).toBe('same');
    expect(Array.from(big.evalTest!.labels!)).toEqual(Array.from(base.evalTest!.labels!));
  });
});

describe('split specs', () => {
  it('limits draw one seeded subset per split; none drops a role; bad specs are user errors', async () => {
    const dir = tempDir('spec');
    dirs.push(dir);
    fs.writeFileSync(path.join(dir, 'data_batch_1.bin'), cifarRecords(Array.from({ length: 12 }, (_, i) => [i % 10]), 0));
    fs.writeFileSync(path.join(dir, 'test_batch.bin'), cifarRecords(Array.from({ length: 6 }, (_, i) => [i % 10]), 100));
    const cfg = dataConfig({ source: 'cifar10', path: dir, image_size: 32, channels: 3, limit_train: 5, limit_test: 4 });
    const s = await openSplits(cfg, opts(9));
    expect([s.pretrain.n, s.evalTrain!.n, s.evalTest!.n]).toEqual([5, 5, 4]);
    const a = await s.pretrain.read([0, 1, 2, 3, 4]);
    const b = await s.evalTrain!.read([0, 1, 2, 3, 4]);
    expect(sameBytes(a.data, b.data)).toBe('same');
    const t = await openSplits(cfg, opts(9));
    expect(Array.from(t.pretrain.labels!)).toEqual(Array.from(s.pretrain.labels!));
    closeSplits(s);
    closeSplits(t);
    const none = await openSplits({ ...cfg, eval_train: 'none', eval_test: 'none' }, opts(9));
    expect([none.evalTrain, none.evalTest]).toEqual([undefined, undefined]);
    closeSplits(none);
    await expect(openSplits({ ...cfg, pretrain: 'holdout' }, opts(9))).rejects.toThrow(/'holdout' is only valid for data\.eval_test/);
    await expect(openSplits({ ...cfg, eval_train: 'none', eval_test: 'test' }, opts(9))).rejects.toThrow(UserError);
    await expect(openSplits({ ...cfg, pretrain: 'train+valid' }, opts(9))).rejects.toThrow(/unknown split 'valid'; expected train, test \(join with \+\)/);
  });
});

describe('resize and channels', () => {
  it('downscaling by 2 averages with weights 1/8, 3/8, 3/8, 1/8 (edges clamped)', () => {
    const src = new Uint8Array(64);
    for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) src[y * 8 + x] = 20 * x;
    const out = resizeHWC(src, 8, 8, 1, 4, 4);
    // x=1: 20 * (1*1 + 2*3 + 3*3 + 4*1) / 8 = 50; x=0: (0*1 + 0*3 + 20*3 + 40*1) / 8 = 12.5 -> 13.
    expect(Array.from(out.subarray(0, 4))).toEqual([13, 50, 90, 128]);
    expect(Array.from(out.subarray(12, 16))).toEqual([13, 50, 90, 128]);
  });

  it('upscaling equals tf.image.resizeBilinear with half-pixel centres (to rounding)', () => {
    const src = Uint8Array.from({ length: 5 * 5 * 3 }, (_, i) => (i * 53) % 256);
    const out = resizeHWC(src, 5, 5, 3, 12, 12);
    const ref = tf.tidy(() => tf.image.resizeBilinear(tf.tensor3d(src, [5, 5, 3], 'float32'), [12, 12], false, true).dataSync());
    let worst = 0;
    for (let i = 0; i < out.length; i++) worst = Math.max(worst, Math.abs(out[i] - ref[i]));
    expect(worst).toBeLessThanOrEqual(0.5 + 1e-3);
  });

  it('cover: a wide image keeps its centre; same size is a copy', () => {
    const src = Uint8Array.from({ length: 2 * 6 }, (_, i) => i);
    expect(Array.from(resizeHWC(src, 2, 6, 1, 2, 2))).toEqual([2, 3, 8, 9]);
    const same = resizeHWC(src, 2, 6, 1, 2, 6);
    expect(Array.from(same)).toEqual(Array.from(src));
    expect(same).not.toBe(src);
  });

  it('RGB -> gray uses ITU-R 601 luma; gray -> RGB repeats', () => {
    const rgb = Uint8Array.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30]);
    // 0.299*255 = 76.2, 0.587*255 = 149.7, 0.114*255 = 29.1, 0.299*10 + 0.587*20 + 0.114*30 = 18.15
    expect(Array.from(convertChannels(rgb, 4, 3, 1))).toEqual([76, 150, 29, 18]);
    expect(Array.from(convertChannels(Uint8Array.from([7, 9]), 2, 1, 3))).toEqual([7, 7, 7, 9, 9, 9]);
  });
});
