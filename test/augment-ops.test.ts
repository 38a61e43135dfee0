// Golden small cases for each augmentation op, against hand-computed values
// and reference implementations written differently (per pixel in plain JS,
// or plain tfjs padding + depthwise convolution).
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { GRAY, colorSteps, hueRotation, mul, saturation } from '../augment/color.ts';
import { applyBlur, bandMatrices, blurKernelSize, gaussianKernel1d, reflectTable } from '../augment/ops/blur.ts';
import { applyColorSteps } from '../augment/ops/colorStage.ts';
import { cropBoxes, cropResize } from '../augment/ops/crop.ts';
import { normalize } from '../augment/ops/normalize.ts';
import { applySolarize } from '../augment/ops/solarize.ts';
import { identityParams, type ViewParams } from '../augment/params.ts';
import { Rng } from '../src/util/rng.ts';

beforeAll(async () => { await tf.setBackend('cpu'); });

const close = (a: ArrayLike<number>, b: ArrayLike<number>, eps: number) => {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i]), `index ${i}: ${a[i]} vs ${b[i]}`).toBeLessThanOrEqual(eps);
};

describe('crop + flip (cropAndResize)', () => {
  // v(y, x) = 10 y + x: bilinear sampling of a linear function is exact.
  const img = tf.tensor4d(Array.from({ length: 16 }, (_, i) => 10 * Math.floor(i / 4) + (i % 4)), [1, 4, 4, 1]);
  const withCrop = (crop: [number, number, number, number], flip = 0): ViewParams => {
    const p = identityParams(1, crop);
    p.flips[0] = flip;
    return p;
  };

  it('copies a crop as large as the output exactly, and mirrors it when flipped', () => {
    expect(Array.from(cropResize(img, cropBoxes(withCrop([1, 1, 2, 2]), 4, 4), 2).dataSync())).toEqual([11, 12, 21, 22]);
    expect(Array.from(cropResize(img, cropBoxes(withCrop([1, 1, 2, 2], 1), 4, 4), 2).dataSync())).toEqual([12, 11, 22, 21]);
    expect(Array.from(cropResize(img, cropBoxes(withCrop([0, 0, 4, 4]), 4, 4), 4).dataSync())).toEqual(Array.from(img.dataSync()));
  });

  it('resizes bilinearly, pixel centers corner to corner', () => {
    // crop rows/cols 0..2 to 5x5: samples at 0, 0.5, 1, 1.5, 2 on both axes
    const out = cropResize(img, cropBoxes(withCrop([0, 1, 3, 3]), 4, 4), 5).dataSync();
    const want: number[] = [];
    for (let y = 0; y < 5; y++) for (let x = 0; x < 5; x++) want.push(10 * (y / 2) + 1 + x / 2);
    close(out, want, 1e-4);
    // downscale the whole 4x4 to 2x2: the four corners
    expect(Array.from(cropResize(img, cropBoxes(withCrop([0, 0, 4, 4]), 4, 4), 2).dataSync())).toEqual([0, 3, 30, 33]);
  });

  it('takes crop i from image i', () => {
    const two = tf.concat([img, tf.mul(img, -1)]) as tf.Tensor4D;
    const p = identityParams(2, [2, 2, 2, 2]);
    expect(Array.from(cropResize(two, cropBoxes(p, 4, 4), 2).dataSync())).toEqual([22, 23, 32, 33, -22, -23, -32, -33]);
  });
});

/** One view's color steps on raw 0..255 input (n images of h x w x c). */
function color(p: ViewParams, pixels: number[], shape: [number, number, number, number], cout = shape[3]): number[] {
  const x = tf.tensor4d(pixels, shape);
  const steps = colorSteps(p, shape[3], cout, 1 / 255);
  return Array.from((steps.length ? applyColorSteps(x, steps) : tf.div(x, 255)).dataSync());
}

function jitterParams(n: number, ops: { order: number[]; factors: number[] }[]): ViewParams {
  const p = identityParams(n, [0, 0, 1, 1]);
  ops.forEach((o, i) => {
    p.jitter[i] = 1;
    p.orders.set(o.order, i * 4);
    p.factors.set(o.factors, i * 4);
  });
  return p;
}

describe('color jitter (hand-computed)', () => {
  // two pixels: (0.2, 0.4, 0.6) and (0.8, 0.6, 0.4); grays 0.363 and 0.637, mean 0.5
  const px = [51, 102, 153, 204, 153, 102];
  const shape: [number, number, number, number] = [1, 1, 2, 3];

  it('brightness scales and clamps', () => {
    close(color(jitterParams(1, [{ order: [0, 1, 2, 3], factors: [1.5, 1, 1, 0] }]), px, shape), [0.3, 0.6, 0.9, 1, 0.9, 0.6], 1e-6);
  });

  it('contrast blends with the mean gray level of the image', () => {
    close(color(jitterParams(1, [{ order: [1, 0, 2, 3], factors: [1, 0.5, 1, 0] }]), px, shape), [0.35, 0.45, 0.55, 0.65, 0.55, 0.45], 1e-6);
  });

  it('saturation 0 gives the luma, saturation 2 pushes away from it', () => {
    close(color(jitterParams(1, [{ order: [2, 0, 1, 3], factors: [1, 1, 0, 0] }]), px, shape), [0.363, 0.363, 0.363, 0.637, 0.637, 0.637], 1e-6);
    close(color(jitterParams(1, [{ order: [2, 0, 1, 3], factors: [1, 1, 2, 0] }]), px, shape), [0.037, 0.437, 0.837, 0.963, 0.563, 0.163], 1e-6);
  });

  it('grayscale replaces every channel by the luma', () => {
    const p = identityParams(1, [0, 0, 1, 1]);
    p.gray[0] = 1;
    close(color(p, px, shape), [0.363, 0.363, 0.363, 0.637, 0.637, 0.637], 1e-6);
  });

  it('applies the ops in the image\'s order, clamping after each (order matters)', () => {
    // one channel, pixels 0.2 and 0.6. Brightness 2 then contrast 0.5: [0.4, 1.2 -> 1], mean 0.7 -> [0.55, 0.85].
    // Contrast 0.5 then brightness 2: mean 0.4 -> [0.3, 0.5] -> [0.6, 1.0].
    const p = jitterParams(2, [
      { order: [0, 1, 2, 3], factors: [2, 0.5, 1, 0] },
      { order: [1, 0, 2, 3], factors: [2, 0.5, 1, 0] },
    ]);
    close(color(p, [51, 153, 51, 153], [2, 1, 2, 1]), [0.55, 0.85, 0.6, 1.0], 1e-6);
  });

  it('ignores saturation and hue for one-channel output (the grayscale-safe variant)', () => {
    const p = jitterParams(1, [{ order: [3, 2, 0, 1], factors: [1, 1, 0.1, 0.3] }]);
    p.gray[0] = 1;
    expect(colorSteps(p, 1, 1, 1)).toEqual([]);
    close(color(p, [51, 153], [1, 1, 2, 1]), [0.2, 0.6], 1e-7);
  });

  it('converts channels: gray replicated to RGB, RGB to luma', () => {
    close(color(identityParams(1, [0, 0, 1, 1]), [51, 204], [1, 1, 2, 1], 3), [0.2, 0.2, 0.2, 0.8, 0.8, 0.8], 1e-6);
    close(color(identityParams(1, [0, 0, 1, 1]), px, shape, 1), [0.363, 0.637], 1e-6);
  });
});

describe('hue rotation', () => {
  it('keeps gray, keeps luma, composes, and turns red towards green for positive shifts', () => {
    const rng = new Rng('hue');
    for (let t = 0; t < 20; t++) {
      const h = rng.uniform(-0.5, 0.5), g = rng.uniform(-0.5, 0.5);
      const v = [rng.next(), rng.next(), rng.next()];
      const out = mul(hueRotation(h), v, 3);
      const luma = (u: number[]) => GRAY[0] * u[0] + GRAY[1] * u[1] + GRAY[2] * u[2];
      expect(Math.abs(luma(out) - luma(v))).toBeLessThan(1e-9);
      close(mul(hueRotation(h), [0.3, 0.3, 0.3], 3), [0.3, 0.3, 0.3], 1e-9);
      close(mul(hueRotation(g), out, 3), mul(hueRotation(h + g), v, 3), 1e-9);
      close(mul(hueRotation(-h), out, 3), v, 1e-9);
    }
    const third = mul(hueRotation(1 / 3), [1, 0, 0], 3);
    expect(third[1]).toBeGreaterThan(third[0]);
    expect(third[1]).toBeGreaterThan(third[2]);
    const sixth = mul(hueRotation(1 / 6), [1, 0, 0], 3); // towards yellow: red and green both up
    expect(Math.min(sixth[0], sixth[1])).toBeGreaterThan(sixth[2] + 0.5);
    close(hueRotation(0), [1, 0, 0, 0, 1, 0, 0, 0, 1], 1e-12);
  });
});

describe('color jitter (random cases against a per-pixel reference)', () => {
  /** torchvision semantics per pixel in plain JS: each op, then a clamp; hue as the YIQ rotation. */
  function reference(p: ViewParams, img: number[], hw: number): number[] {
    let x = img.map((v) => v / 255);
    const clamp = (v: number) => Math.min(1, Math.max(0, v));
    const gray = (u: number[], j: number) => GRAY[0] * u[j * 3] + GRAY[1] * u[j * 3 + 1] + GRAY[2] * u[j * 3 + 2];
    const perPixel = (f: (v: number[]) => number[]) => {
      const out: number[] = [];
      for (let j = 0; j < hw; j++) out.push(...f(x.slice(j * 3, j * 3 + 3)));
      return out;
    };
    if (p.jitter[0]) {
      for (const op of p.orders) {
        const f = p.factors[op];
        if (op === 0) x = x.map((v) => clamp(v * f));
        if (op === 1) {
          let mean = 0;
          for (let j = 0; j < hw; j++) mean += gray(x, j) / hw;
          x = x.map((v) => clamp(f * v + (1 - f) * mean));
        }
        if (op === 2) x = perPixel((v) => mul(saturation(f), v, 3).map(clamp));
        if (op === 3) x = perPixel((v) => mul(hueRotation(f), v, 3).map(clamp));
      }
    }
    if (p.gray[0]) x = perPixel((v) => { const g = GRAY[0] * v[0] + GRAY[1] * v[1] + GRAY[2] * v[2]; return [g, g, g]; });
    return x;
  }

  it('matches the reference image by image for random orders and factors', () => {
    const rng = new Rng('color-ref');
    const n = 12, hw = 6;
    const p = identityParams(n, [0, 0, 1, 1]);
    const pixels: number[] = [];
    for (let i = 0; i < n; i++) {
      p.jitter[i] = i % 6 === 5 ? 0 : 1;
      p.gray[i] = i % 4 === 3 ? 1 : 0;
      p.orders.set(rng.shuffle([0, 1, 2, 3]), i * 4);
      p.factors.set([rng.uniform(0.2, 1.8), rng.uniform(0.2, 1.8), rng.uniform(0.2, 1.8), rng.uniform(-0.5, 0.5)], i * 4);
      for (let j = 0; j < hw * 3; j++) pixels.push(rng.int(256));
    }
    const got = color(p, pixels, [n, 2, 3, 3]);
    for (let i = 0; i < n; i++) {
      const one: ViewParams = { ...identityParams(1, [0, 0, 1, 1]), jitter: p.jitter.slice(i, i + 1), gray: p.gray.slice(i, i + 1),
        orders: p.orders.slice(i * 4, i * 4 + 4), factors: p.factors.slice(i * 4, i * 4 + 4) };
      close(got.slice(i * hw * 3, (i + 1) * hw * 3), reference(one, pixels.slice(i * hw * 3, (i + 1) * hw * 3), hw), 2e-6);
    }
  });
});

describe('gaussian blur', () => {
  it('uses torchvision\'s kernel size rule and gaussian taps', () => {
    expect(blurKernelSize(32, 0.1, 0)).toBe(3);
    expect(blurKernelSize(28, 0.1, 0)).toBe(3);
    expect(blurKernelSize(96, 0.1, 0)).toBe(9);
    expect(blurKernelSize(224, 0.1, 0)).toBe(23);
    expect(blurKernelSize(32, 0.1, 64)).toBe(0);
    expect(blurKernelSize(10, 0.1, 0)).toBe(0);
    // e^-0.5 = 0.6065306597, sum 2.2130613194
    close(gaussianKernel1d(1, 3), [0.2740686, 0.4518628, 0.2740686], 1e-7);
  });

  it('folds reflect padding into the edge taps', () => {
    const K = [0.25, 0.5, 0.25];
    // size 4, k 3: position 0 reads pixel -1 as pixel 1
    close(reflectTable(K, 4), [0, 0.5, 0.5, 0.25, 0.5, 0.25, 0.25, 0.5, 0.25, 0.5, 0.5, 0], 0);
    const B = bandMatrices(new Float32Array([0]), 3, 3);
    expect(Array.from(B)).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 1]);
  });

  it('keeps a constant image constant', () => {
    const x = tf.fill([3, 9, 9, 3], 0.37) as tf.Tensor4D;
    const y = applyBlur(x, new Float32Array([0.1, 1.3, 2.0]), 5).dataSync();
    for (const v of y) expect(Math.abs(v - 0.37)).toBeLessThan(1e-6);
  });

  it('matches reflect padding + a depthwise convolution, image by image', () => {
    const rng = new Rng('blur-ref');
    const n = 3, s = 7, c = 3, k = 5;
    const x = tf.tensor4d(Array.from({ length: n * s * s * c }, () => rng.next()), [n, s, s, c]);
    const sigmas = new Float32Array([0.6, 0, 1.7]);
    const got = applyBlur(x, sigmas, k);
    for (let i = 0; i < n; i++) {
      const xi = x.slice([i], [1]);
      if (sigmas[i] === 0) {
        expect(Array.from(got.slice([i], [1]).dataSync())).toEqual(Array.from(xi.dataSync()));
        continue;
      }
      const g = gaussianKernel1d(sigmas[i], k);
      const k2 = Array.from({ length: k * k }, (_, j) => g[Math.floor(j / k)] * g[j % k]);
      const filter = tf.tile(tf.tensor4d(k2, [k, k, 1, 1]), [1, 1, c, 1]) as tf.Tensor4D;
      const padded = tf.mirrorPad(xi, [[0, 0], [2, 2], [2, 2], [0, 0]], 'reflect') as tf.Tensor4D;
      const want = tf.depthwiseConv2d(padded, filter, 1, 'valid');
      close(got.slice([i], [1]).dataSync(), want.dataSync(), 1e-5);
    }
  });

  it('blurs single-channel images the same way', () => {
    const x = tf.tensor4d(Array.from({ length: 2 * 5 * 5 }, (_, i) => (i * 7) % 11), [2, 5, 5, 1]);
    const rgb = tf.tile(x, [1, 1, 1, 3]) as tf.Tensor4D;
    const sig = new Float32Array([0.8, 1.9]);
    const one = applyBlur(x, sig, 3).dataSync();
    const three = applyBlur(rgb, sig, 3).dataSync();
    close(one, Array.from(three).filter((_, j) => j % 3 === 0), 1e-5);
  });
});

describe('solarize', () => {
  it('inverts exactly the pixels at or above the threshold, only in flagged images', () => {
    const vals = [0, 127, 128, 255].map((v) => v / 255);
    const x = tf.tensor4d([...vals, ...vals], [2, 1, 4, 1]);
    const out = applySolarize(x, new Uint8Array([1, 0]), 128 / 255).dataSync();
    expect(out[0]).toBe(Math.fround(vals[0]));
    expect(out[1]).toBe(Math.fround(vals[1])); // 127 stays, bit for bit
    expect(out[2]).toBeCloseTo(1 - 128 / 255, 6);
    expect(out[3]).toBeCloseTo(0, 6);
    expect(Array.from(out.slice(4))).toEqual(vals.map(Math.fround)); // not flagged: untouched
    const half = applySolarize(x, new Uint8Array([1, 1]), 0.5).dataSync(); // PIL's threshold 128
    expect(Array.from(half.slice(0, 2))).toEqual([0, Math.fround(127 / 255)]);
    expect(half[2]).toBeCloseTo(127 / 255, 6);
  });
});

describe('normalize', () => {
  it('subtracts the mean and divides by the std per channel, with the input scale folded in', () => {
    const x = tf.tensor4d([0.5, 1.0, 0.25, 0], [1, 1, 2, 2]);
    close(normalize(x, [0.5, 0.25], [0.25, 0.5]).dataSync(), [0, 1.5, -1, -0.5], 1e-6);
    close(normalize(tf.mul(x, 255) as tf.Tensor4D, [0.5, 0.25], [0.25, 0.5], 1 / 255).dataSync(), [0, 1.5, -1, -0.5], 1e-5);
  });
});
