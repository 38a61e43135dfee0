// Statistics of the per-image parameter draws (augment/params.ts), with bounds
// from the binomial / uniform distributions (>= 5 standard deviations, so a
// correct sampler fails with probability < 1e-6 per check).
import { describe, expect, it } from 'vitest';
import { resolveAugment } from '../augment/index.ts';
import { sampleCrop, sampleViewParams, centerCrop } from '../augment/params.ts';
import type { ViewConfig } from '../augment/config.ts';
import { Rng } from '../src/util/rng.ts';

const N = 20000;
/** 5-sigma half-width of a binomial proportion estimate. */
const tol = (p: number, n = N) => 5 * Math.sqrt((p * (1 - p)) / n) + 1e-9;
const rate = (a: Uint8Array) => a.reduce((s, v) => s + v, 0) / a.length;

function cfg(over: (v: ViewConfig) => void = () => {}): ViewConfig {
  const v = resolveAugment({ preset: 'simclr' }).view1;
  over(v);
  return v;
}

describe('random resized crop', () => {
  it('keeps the area within the scale range and the aspect ratio within the ratio range', () => {
    const rng = new Rng('crop-bounds');
    const H = 200, W = 160; // non-square, large enough that rounding moves the area by < 1%
    for (let t = 0; t < 5000; t++) {
      const [top, left, h, w] = sampleCrop(H, W, [0.08, 1], [3 / 4, 4 / 3], rng);
      expect(top).toBeGreaterThanOrEqual(0);
      expect(left).toBeGreaterThanOrEqual(0);
      expect(top + h).toBeLessThanOrEqual(H);
      expect(left + w).toBeLessThanOrEqual(W);
      const area = (h * w) / (H * W);
      const fallback = h === H && w === W; // the center crop after 10 misses is the whole image here
      if (!fallback) {
        // rounding each side by <= 0.5 px changes the area fraction by <= (h + w + 0.25) / (2 H W)
        const slack = (h + w + 0.25) / (2 * H * W);
        expect(area).toBeGreaterThanOrEqual(0.08 - slack);
        expect(area).toBeLessThanOrEqual(1 + slack);
        // w = round(r x), h = round(x) up to 0.5 each, so w/h is within r (1 -+ 0.5/h) -+ 0.5/h
        expect(w / h).toBeGreaterThanOrEqual((3 / 4) * (1 - 0.5 / h) - 0.5 / h);
        expect(w / h).toBeLessThanOrEqual((4 / 3) * (1 + 0.5 / h) + 0.5 / h);
      }
    }
  });

  it('draws areas uniformly in the scale range (KS test, ratio fixed at 1)', () => {
    const rng = new Rng('crop-uniform');
    const S = 100, lo = 0.2, hi = 0.9;
    const areas = Float64Array.from({ length: N }, () => {
      const [, , h, w] = sampleCrop(S, S, [lo, hi], [1, 1], rng);
      return (h * w) / (S * S);
    }).sort();
    // Kolmogorov-Smirnov distance to U(lo, hi); 1.95/sqrt(N) is the 0.1% critical value, plus the
    // side rounding (side = round(S sqrt(a)) moves a by <= sqrt(a)/S + 1/(4 S^2) <= 0.0095).
    let d = 0;
    areas.forEach((a, i) => {
      const F = Math.min(1, Math.max(0, (a - lo) / (hi - lo)));
      d = Math.max(d, Math.abs(F - i / N), Math.abs(F - (i + 1) / N));
    });
    expect(d).toBeLessThan(1.95 / Math.sqrt(N) + 0.0095 / (hi - lo));
    expect(areas[0]).toBeGreaterThanOrEqual(lo - 0.01);
    expect(areas[N - 1]).toBeLessThanOrEqual(hi + 0.01);
  });

  it('falls back to the largest centered crop with the ratio clamped', () => {
    expect(centerCrop(10, 40, [1, 2])).toEqual([0, 10, 10, 20]);
    expect(centerCrop(40, 10, [1, 2])).toEqual([15, 0, 10, 10]);
    expect(centerCrop(30, 30, [3 / 4, 4 / 3])).toEqual([0, 0, 30, 30]);
    // an impossible range (every try fails) ends in the fallback
    expect(sampleCrop(8, 8, [1, 1], [2, 3], new Rng(1))).toEqual([2, 0, 4, 8]);
  });
});

describe('per-image draws', () => {
  const p = sampleViewParams(cfg(), N, 32, 32, new Rng('draws'));

  it('flips with rate ~0.5, jitters with ~0.8, grays with ~0.2', () => {
    expect(Math.abs(rate(p.flips) - 0.5)).toBeLessThan(tol(0.5));
    expect(Math.abs(rate(p.jitter) - 0.8)).toBeLessThan(tol(0.8));
    expect(Math.abs(rate(p.gray) - 0.2)).toBeLessThan(tol(0.2));
    expect(rate(p.solarize)).toBe(0);
  });

  it('draws jitter factors inside torchvision\'s ranges, spread over the whole range', () => {
    // simclr s=1: brightness/contrast/saturation in [0.2, 1.8], hue in [-0.2, 0.2]
    const lo = [0.2, 0.2, 0.2, -0.2], hi = [1.8, 1.8, 1.8, 0.2];
    for (let op = 0; op < 4; op++) {
      const vals: number[] = [];
      for (let i = 0; i < N; i++) if (p.jitter[i]) vals.push(p.factors[i * 4 + op]);
      const min = Math.min(...vals), max = Math.max(...vals);
      expect(min).toBeGreaterThanOrEqual(lo[op] - 1e-6);
      expect(max).toBeLessThanOrEqual(hi[op] + 1e-6);
      // uniform: the extremes come within 0.5% of the ends, the mean within 5 sigma of the middle
      expect(min - lo[op]).toBeLessThan(0.005 * (hi[op] - lo[op]));
      expect(hi[op] - max).toBeLessThan(0.005 * (hi[op] - lo[op]));
      const mean = vals.reduce((s, v) => s + v, 0) / vals.length;
      const sd = (hi[op] - lo[op]) / Math.sqrt(12);
      expect(Math.abs(mean - (lo[op] + hi[op]) / 2)).toBeLessThan((5 * sd) / Math.sqrt(vals.length));
    }
    for (let i = 0; i < N; i++) {
      if (!p.jitter[i]) expect(Array.from(p.factors.subarray(i * 4, i * 4 + 4))).toEqual([1, 1, 1, 0]);
    }
  });

  it('orders the four jitter ops by a uniform random permutation', () => {
    const counts = Array.from({ length: 4 }, () => [0, 0, 0, 0]);
    let m = 0;
    for (let i = 0; i < N; i++) {
      if (!p.jitter[i]) continue;
      const o = Array.from(p.orders.subarray(i * 4, i * 4 + 4));
      expect([...o].sort()).toEqual([0, 1, 2, 3]);
      o.forEach((op, slot) => counts[slot][op]++);
      m++;
    }
    for (const row of counts) for (const c of row) expect(Math.abs(c / m - 0.25)).toBeLessThan(tol(0.25, m));
  });

  it('blurs with probability p and sigma uniform in range, only when blur is on', () => {
    const v = cfg((c) => { c.blur.p = 0.3; c.blur.sigma = [0.5, 1.5]; });
    const q = sampleViewParams(v, N, 32, 32, new Rng('blur'));
    const on = Array.from(q.blurSigma).filter((s) => s > 0);
    expect(Math.abs(on.length / N - 0.3)).toBeLessThan(tol(0.3));
    expect(Math.min(...on)).toBeGreaterThanOrEqual(0.5);
    expect(Math.max(...on)).toBeLessThanOrEqual(1.5);
    expect(Math.abs(on.reduce((s, x) => s + x, 0) / on.length - 1)).toBeLessThan((5 * (1 / Math.sqrt(12))) / Math.sqrt(on.length));
    const off = sampleViewParams(v, 1000, 32, 32, new Rng('blur'), false);
    expect(off.blurSigma.every((s) => s === 0)).toBe(true);
  });

  it('solarizes with probability p', () => {
    const q = sampleViewParams(cfg((c) => { c.solarize.p = 0.2; }), N, 8, 8, new Rng('sol'));
    expect(Math.abs(rate(q.solarize) - 0.2)).toBeLessThan(tol(0.2));
  });

  it('draws nothing random when every probability is 0 and the crop is the whole image', () => {
    const v = resolveAugment({ preset: 'none' }).view1;
    const q = sampleViewParams(v, 100, 8, 8, new Rng(3));
    expect(rate(q.flips) + rate(q.jitter) + rate(q.gray) + rate(q.solarize)).toBe(0);
    for (let i = 0; i < 100; i++) expect(Array.from(q.crops.subarray(i * 4, i * 4 + 4))).toEqual([0, 0, 8, 8]);
  });

  it('is reproducible from the seed and differs between seeds', () => {
    const a = sampleViewParams(cfg(), 500, 32, 32, new Rng(42));
    const b = sampleViewParams(cfg(), 500, 32, 32, new Rng(42));
    const c = sampleViewParams(cfg(), 500, 32, 32, new Rng(43));
    expect(b).toEqual(a);
    expect(c.crops).not.toEqual(a.crops);
    expect(c.factors).not.toEqual(a.factors);
  });
});
