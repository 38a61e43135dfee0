// The page's image preprocessing: decoded RGBA pixels -> the backbone's input,
// the same steps as Node's (src/data/folder.ts decodeImage, then the recipe's
// eval transform): drop alpha / convert to the model's channels, resize to
// cover size x size and crop the centre, then (x / 255 - mean) / std.
// Pure functions over typed arrays, so Node tests run them against sharp.
import { coverResize } from './resize.ts';

export { coverResize };

/** What the site's manifest says about preprocessing (a subset of the index's Preprocessing). */
export interface PagePreprocessing {
  size: number;
  channels: number;
  mean: number[];
  std: number[];
}

/** sRGB 8-bit -> linear light, as libvips' sRGB -> scRGB conversion (the curve, in float). */
function srgbToLinear(v: number): number {
  const c = v / 255;
  return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
}
function linearToSrgb(y: number): number {
  const c = y <= 0.0031308 ? 12.92 * y : 1.055 * y ** (1 / 2.4) - 0.055;
  return Math.min(255, Math.max(0, Math.round(c * 255)));
}
const LINEAR = Float64Array.from({ length: 256 }, (_, i) => srgbToLinear(i));

/**
 * RGBA (as a canvas gives it) -> `channels` bytes per pixel. Alpha is dropped,
 * not composited (sharp's removeAlpha). For one channel, a gray picture (R = G =
 * B everywhere) keeps its value, as sharp's 'b-w' does on a one-band image; a
 * colour one gets the luminance libvips computes (Rec. 709 weights in linear
 * light, re-encoded as sRGB).
 */
export function fromRgba(rgba: Uint8Array | Uint8ClampedArray, pixels: number, channels: number): Uint8Array {
  const out = new Uint8Array(pixels * channels);
  if (channels === 3) {
    for (let p = 0; p < pixels; p++) {
      out[3 * p] = rgba[4 * p];
      out[3 * p + 1] = rgba[4 * p + 1];
      out[3 * p + 2] = rgba[4 * p + 2];
    }
    return out;
  }
  if (channels !== 1) throw new Error(`preprocess: ${channels} channels; expected 1 or 3`);
  let gray = true;
  for (let p = 0; p < pixels && gray; p++) gray = rgba[4 * p] === rgba[4 * p + 1] && rgba[4 * p] === rgba[4 * p + 2];
  for (let p = 0; p < pixels; p++) {
    out[p] = gray ? rgba[4 * p]
      : linearToSrgb(0.2126 * LINEAR[rgba[4 * p]] + 0.7152 * LINEAR[rgba[4 * p + 1]] + 0.0722 * LINEAR[rgba[4 * p + 2]]);
  }
  return out;
}

/**
 * Bytes -> normalized floats, HWC order: (x - 255 mean[c]) / (255 std[c]), the
 * batch-norm form Node's eval transform uses (augment/ops/normalize.ts), with
 * its float32 statistics, so both give the same float32 values.
 */
export function normalize(px: Uint8Array, p: PagePreprocessing): Float32Array {
  const c = p.channels;
  const mean = Float32Array.from({ length: c }, (_, i) => p.mean[i] / (1 / 255));
  const sd = Float32Array.from({ length: c }, (_, i) => Math.sqrt(Math.fround((p.std[i] / (1 / 255)) ** 2)));
  const out = new Float32Array(px.length);
  for (let i = 0; i < px.length; i++) out[i] = (px[i] - mean[i % c]) / sd[i % c];
  return out;
}

/** Decoded RGBA -> the model input [size * size * channels]. */
export function preprocess(rgba: Uint8Array | Uint8ClampedArray, width: number, height: number, p: PagePreprocessing): Float32Array {
  const px = fromRgba(rgba, width * height, p.channels);
  return normalize(coverResize(px, width, height, p.channels, p.size), p);
}
