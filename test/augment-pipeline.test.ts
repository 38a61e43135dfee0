// The two-view augmenter end to end on the cpu backend: shapes, ranges,
// identity, reproducibility, channel handling, the eval transform, no leaks.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { TwoViewAugmenter, evalTransform, resolveAugment, type ImageBatchLike } from '../augment/index.ts';
import { isUserError } from '../src/util/errors.ts';
import { Rng } from '../src/util/rng.ts';

beforeAll(async () => { await tf.setBackend('cpu'); });

function randomBatch(n: number, h: number, w: number, c: number, seed = 1): ImageBatchLike {
  const rng = new Rng(seed);
  return { data: Uint8Array.from({ length: n * h * w * c }, () => rng.int(256)), n, height: h, width: w, channels: c };
}

const bytes = (t: tf.Tensor) => Buffer.from((t.dataSync() as Float32Array).buffer);

describe('TwoViewAugmenter', () => {
  it('returns two float32 NHWC views of the right shape and range for every preset', () => {
    const batch = randomBatch(4, 20, 20, 3);
    for (const preset of ['simclr', 'mocov2', 'mocov3', 'digits', 'none'] as const) {
      const aug = new TwoViewAugmenter(resolveAugment({ preset }), { outSize: 16, channels: 3 });
      const { view1, view2 } = aug.views(batch, new Rng(preset));
      for (const v of [view1, view2]) {
        expect(v.shape).toEqual([4, 16, 16, 3]);
        expect(v.dtype).toBe('float32');
        const d = v.dataSync();
        // mean 0.5, std 0.5: pixels in [0, 1] map to [-1, 1]
        for (const x of d) expect(Math.abs(x)).toBeLessThanOrEqual(1 + 1e-5);
      }
      tf.dispose([view1, view2]);
    }
  });

  it('is the normalized input when every probability is 0 and the crop is the whole image', () => {
    const batch = randomBatch(4, 8, 8, 3, 7);
    const mean = [0.4, 0.5, 0.6], std = [0.2, 0.25, 0.3];
    const aug = new TwoViewAugmenter(resolveAugment({ preset: 'none' }), { outSize: 8, channels: 3, mean, std });
    const { view1, view2 } = aug.views(batch, new Rng(1));
    const want = Array.from(batch.data, (v, i) => (v / 255 - mean[i % 3]) / std[i % 3]);
    for (const v of [view1, view2]) {
      const d = v.dataSync();
      for (let i = 0; i < d.length; i++) expect(Math.abs(d[i] - want[i])).toBeLessThan(1e-5);
    }
    // the same with every knob of a real preset switched off
    const off = resolveAugment({
      preset: 'mocov3', crop: { scale: [1, 1], ratio: [1, 1] }, flip: { p: 0 }, jitter: { p: 0 }, grayscale: { p: 0 },
      blur: { p: 0 }, solarize: { p: 0 },
    });
    const v = new TwoViewAugmenter(off, { outSize: 8, channels: 3, mean, std }).views(batch, new Rng(2)).view2.dataSync();
    for (let i = 0; i < v.length; i++) expect(Math.abs(v[i] - want[i])).toBeLessThan(1e-5);
  });

  it('is reproducible bit for bit, differs across seeds, and its two views differ', () => {
    const batch = randomBatch(8, 16, 16, 3, 3);
    const cfg = resolveAugment({ preset: 'mocov3' });
    const a = new TwoViewAugmenter(cfg, { outSize: 16, channels: 3 }).views(batch, new Rng(11));
    const b = new TwoViewAugmenter(cfg, { outSize: 16, channels: 3 }).views(batch, new Rng(11));
    const c = new TwoViewAugmenter(cfg, { outSize: 16, channels: 3 }).views(batch, new Rng(12));
    expect(bytes(b.view1).equals(bytes(a.view1))).toBe(true);
    expect(bytes(b.view2).equals(bytes(a.view2))).toBe(true);
    expect(bytes(c.view1).equals(bytes(a.view1))).toBe(false);
    expect(bytes(a.view2).equals(bytes(a.view1))).toBe(false);
    // consecutive calls on one rng advance it
    const rng = new Rng(11);
    const aug = new TwoViewAugmenter(cfg, { outSize: 16, channels: 3 });
    const first = aug.views(batch, rng), second = aug.views(batch, rng);
    expect(bytes(first.view1).equals(bytes(a.view1))).toBe(true);
    expect(bytes(second.view1).equals(bytes(a.view1))).toBe(false);
  });

  it('draws the two views independently (flip agreement ~ 1/4 + 1/4)', () => {
    const aug = new TwoViewAugmenter(resolveAugment({ preset: 'simclr' }), { outSize: 8, channels: 3 });
    const n = 20000;
    const [p1, p2] = aug.sampleParams({ n, height: 8, width: 8 }, new Rng('indep'));
    let both = 0, same = 0;
    for (let i = 0; i < n; i++) { both += p1.flips[i] & p2.flips[i]; same += p1.flips[i] === p2.flips[i] ? 1 : 0; }
    const tol = 5 * Math.sqrt((0.25 * 0.75) / n);
    expect(Math.abs(both / n - 0.25)).toBeLessThan(tol);
    expect(Math.abs(same / n - 0.5)).toBeLessThan(5 * Math.sqrt(0.25 / n));
  });

  it('follows the mocov3 asymmetry: view 1 always blurred, view 2 sometimes solarized', () => {
    const aug = new TwoViewAugmenter(resolveAugment({ preset: 'mocov3' }), { outSize: 32, channels: 3 });
    const n = 4000;
    const [p1, p2] = aug.sampleParams({ n, height: 32, width: 32 }, new Rng('v3'));
    expect(p1.blurSigma.every((s) => s >= 0.1 && s <= 2)).toBe(true);
    expect(p1.solarize.every((f) => f === 0)).toBe(true);
    const blur2 = p2.blurSigma.filter((s) => s > 0).length / n;
    const sol2 = p2.solarize.reduce((s, f) => s + f, 0) / n;
    expect(Math.abs(blur2 - 0.1)).toBeLessThan(5 * Math.sqrt(0.09 / n));
    expect(Math.abs(sol2 - 0.2)).toBeLessThan(5 * Math.sqrt(0.16 / n));
    // simclr has no blur below 64 px
    const small = new TwoViewAugmenter(resolveAugment({ preset: 'simclr' }), { outSize: 32, channels: 3 });
    expect(small.sampleParams({ n: 500, height: 32, width: 32 }, new Rng(1))[0].blurSigma.every((s) => s === 0)).toBe(true);
  });

  it('handles one-channel data: digits views, gray -> RGB stays gray, RGB -> one channel', () => {
    const digits = randomBatch(5, 28, 28, 1);
    const aug1 = new TwoViewAugmenter(resolveAugment({ preset: 'digits' }), { outSize: 28, channels: 1, mean: [0.1307], std: [0.3081] });
    const v = aug1.views(digits, new Rng(1));
    expect(v.view1.shape).toEqual([5, 28, 28, 1]);
    const lo = (0 - 0.1307) / 0.3081, hi = (1 - 0.1307) / 0.3081;
    for (const x of v.view2.dataSync()) expect(x >= lo - 1e-5 && x <= hi + 1e-5).toBe(true);

    // saturation, hue and grayscale leave gray pixels gray, so a 1 -> 3 channel view has equal channels
    const aug3 = new TwoViewAugmenter(resolveAugment({ preset: 'simclr', jitter: { p: 1 } }), { outSize: 20, channels: 3 });
    const rgb = aug3.views(digits, new Rng(2)).view1.dataSync();
    for (let i = 0; i < rgb.length; i += 3) {
      expect(Math.abs(rgb[i] - rgb[i + 1])).toBeLessThan(1e-5);
      expect(Math.abs(rgb[i] - rgb[i + 2])).toBeLessThan(1e-5);
    }
    const toGray = new TwoViewAugmenter(resolveAugment({ preset: 'mocov2' }), { outSize: 12, channels: 1 });
    expect(toGray.views(randomBatch(3, 16, 16, 3), new Rng(3)).view2.shape).toEqual([3, 12, 12, 1]);
  });

  it('leaks no tensors', () => {
    const batch = randomBatch(4, 16, 16, 3);
    const aug = new TwoViewAugmenter(resolveAugment({ preset: 'mocov3' }), { outSize: 16, channels: 3 });
    aug.views(batch, new Rng(0)); // warm-up (kernels may cache constants)
    const before = tf.memory().numTensors;
    const { view1, view2 } = aug.views(batch, new Rng(1));
    expect(tf.memory().numTensors).toBe(before + 2);
    tf.dispose([view1, view2]);
    const e = aug.evalTransform(batch);
    expect(tf.memory().numTensors).toBe(before + 1);
    e.dispose();
  });

  it('rejects normalization stats of the wrong length and malformed batches', () => {
    const cfg = resolveAugment({ preset: 'simclr', mean: [0.1, 0.2, 0.3] });
    let err: unknown;
    try { new TwoViewAugmenter(cfg, { outSize: 8, channels: 1 }); } catch (e) { err = e; }
    expect(isUserError(err)).toBe(true);
    expect(String(err)).toMatch(/augment\.mean/);
    const aug = new TwoViewAugmenter(resolveAugment({ preset: 'simclr' }), { outSize: 8, channels: 3 });
    expect(() => aug.views({ ...randomBatch(2, 8, 8, 3), n: 3 }, new Rng(1))).toThrow(/bytes/);
  });
});

describe('evalTransform', () => {
  it('takes the center square, resizes it and normalizes', () => {
    // 4 x 6 single-channel image, v = 10 y + x; center square = columns 1..4
    const data = Uint8Array.from({ length: 24 }, (_, i) => 10 * Math.floor(i / 6) + (i % 6));
    const out = evalTransform({ data, n: 1, height: 4, width: 6, channels: 1 }, { outSize: 4, channels: 1, mean: [0], std: [1] }).dataSync();
    const want: number[] = [];
    for (let y = 0; y < 4; y++) for (let x = 1; x <= 4; x++) want.push((10 * y + x) / 255);
    out.forEach((v, i) => expect(Math.abs(v - want[i])).toBeLessThan(1e-6));
    // upscaling 4x4 -> 7x7 samples halfway between pixels
    const up = evalTransform({ data: data.subarray(0, 16), n: 1, height: 4, width: 4, channels: 1 }, { outSize: 7, channels: 3, mean: [0], std: [1] });
    expect(up.shape).toEqual([1, 7, 7, 3]);
  });
});
