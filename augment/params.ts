// Per-image random parameters of one view, drawn from the Rng in plain JS.
// This is the only per-image work; the pixels are then transformed in a few
// batched tensor ops (see pipeline.ts). Keeping the draws separate lets tests
// check their statistics directly.
import type { Rng } from '../src/util/rng.ts';
import type { Range, ViewConfig } from './config.ts';

/** Jitter op ids, in the order their factors are stored. */
export const BRIGHTNESS = 0, CONTRAST = 1, SATURATION = 2, HUE = 3;

export interface ViewParams {
  n: number;
  /** n * 4: top, left, height, width of each crop in source pixels (integers). */
  crops: Int32Array;
  /** 1 = mirror left-right. */
  flips: Uint8Array;
  /** 1 = color jitter applied. */
  jitter: Uint8Array;
  /** n * 4: brightness, contrast, saturation factors and hue shift (1, 1, 1, 0 when not applied). */
  factors: Float32Array;
  /** n * 4: the order the four jitter ops run in (a permutation of 0..3). */
  orders: Uint8Array;
  /** 1 = converted to grayscale. */
  gray: Uint8Array;
  /** Gaussian sigma in output pixels; 0 = no blur. */
  blurSigma: Float32Array;
  /** 1 = solarized. */
  solarize: Uint8Array;
}

/**
 * Draws the parameters of one view for `n` images of `height` x `width`.
 * `blurOn` is false when the output is too small for the blur kernel (the draw is skipped).
 * Per image, draws happen in pipeline order: crop, flip, jitter, grayscale, blur, solarize.
 */
export function sampleViewParams(cfg: ViewConfig, n: number, height: number, width: number, rng: Rng, blurOn = true): ViewParams {
  const p: ViewParams = {
    n,
    crops: new Int32Array(n * 4),
    flips: new Uint8Array(n),
    jitter: new Uint8Array(n),
    factors: new Float32Array(n * 4),
    orders: new Uint8Array(n * 4),
    gray: new Uint8Array(n),
    blurSigma: new Float32Array(n),
    solarize: new Uint8Array(n),
  };
  const j = cfg.jitter;
  for (let i = 0; i < n; i++) {
    p.crops.set(sampleCrop(height, width, cfg.crop.scale, cfg.crop.ratio, rng), i * 4);
    p.flips[i] = rng.bernoulli(cfg.flip.p) ? 1 : 0;
    const order = [0, 1, 2, 3];
    const f = [1, 1, 1, 0];
    if (rng.bernoulli(j.p)) {
      p.jitter[i] = 1;
      rng.shuffle(order);
      f[BRIGHTNESS] = factor(j.brightness, rng);
      f[CONTRAST] = factor(j.contrast, rng);
      f[SATURATION] = factor(j.saturation, rng);
      f[HUE] = rng.uniform(-j.hue, j.hue);
    }
    p.orders.set(order, i * 4);
    p.factors.set(f, i * 4);
    p.gray[i] = rng.bernoulli(cfg.grayscale.p) ? 1 : 0;
    if (blurOn && rng.bernoulli(cfg.blur.p)) p.blurSigma[i] = rng.uniform(cfg.blur.sigma[0], cfg.blur.sigma[1]);
    p.solarize[i] = rng.bernoulli(cfg.solarize.p) ? 1 : 0;
  }
  return p;
}

/** torchvision's ColorJitter range for brightness / contrast / saturation. */
function factor(s: number, rng: Rng): number {
  return s === 0 ? 1 : rng.uniform(Math.max(0, 1 - s), 1 + s);
}

/**
 * torchvision's RandomResizedCrop.get_params: up to 10 tries of (area, log-uniform ratio)
 * that fit, else a center crop with the ratio clamped into range.
 * Returns [top, left, height, width].
 */
export function sampleCrop(H: number, W: number, scale: Range, ratio: Range, rng: Rng): [number, number, number, number] {
  const area = H * W;
  const logLo = Math.log(ratio[0]), logHi = Math.log(ratio[1]);
  for (let t = 0; t < 10; t++) {
    const target = area * rng.uniform(scale[0], scale[1]);
    const r = Math.exp(rng.uniform(logLo, logHi));
    const w = Math.round(Math.sqrt(target * r));
    const h = Math.round(Math.sqrt(target / r));
    if (w > 0 && w <= W && h > 0 && h <= H) {
      const top = rng.int(H - h + 1);
      const left = rng.int(W - w + 1);
      return [top, left, h, w];
    }
  }
  return centerCrop(H, W, ratio);
}

/** The largest center crop whose aspect ratio lies in `ratio` (the whole image when it already does). */
export function centerCrop(H: number, W: number, ratio: Range): [number, number, number, number] {
  const inRatio = W / H;
  let w = W, h = H;
  if (inRatio < ratio[0]) h = Math.min(H, Math.round(W / ratio[0]));
  else if (inRatio > ratio[1]) w = Math.min(W, Math.round(H * ratio[1]));
  return [Math.floor((H - h) / 2), Math.floor((W - w) / 2), h, w];
}

/** Parameters that change nothing but take the given crop of every image (eval transform, tests). */
export function identityParams(n: number, crop: [number, number, number, number]): ViewParams {
  const crops = new Int32Array(n * 4);
  const factors = new Float32Array(n * 4);
  const orders = new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) {
    crops.set(crop, i * 4);
    factors.set([1, 1, 1, 0], i * 4);
    orders.set([0, 1, 2, 3], i * 4);
  }
  return {
    n, crops, factors, orders,
    flips: new Uint8Array(n), jitter: new Uint8Array(n), gray: new Uint8Array(n),
    blurSigma: new Float32Array(n), solarize: new Uint8Array(n),
  };
}
