// Finds and loads the oneDNN addon built by native/build.mjs, and describes its
// functions. Every function works in place on caller-owned Float32Arrays and
// checks each array's length against the shape it is given.
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

type F32 = Float32Array;

export interface NativeAddonInfo {
  onednn: string;
  runtime: string;
  isa: number;
  threads: number;
  cachedPrimitives: number;
  /** Shape-based convolution kernel choices are on (SELFSUP_CONV_TUNING=0 turns them off). */
  convTuning: boolean;
  /**
   * Wide 3x3 stride-1 convolutions run Winograd F(4x4, 3x3) (native/src/winograd.cc): allowed
   * (SELFSUP_CONV_WINOGRAD=0 or setConvWinograd(false) turns it off) and this CPU has the kernels (AVX-512).
   */
  convWinograd: boolean;
}

/**
 * Conv shape vector: [N, IH, IW, IC, KH, KW, OC, OH, OW, SH, SW, DH, DW, padTop, padLeft, padBottom, padRight]
 * (dilations counted TF-style, 1 = dense). Pool shape vector: [N, IH, IW, C, KH, KW, OH, OW, SH, SW, pt, pl, pb, pr].
 */
export interface NativeAddon {
  setThreads(n: number): number;
  getThreads(): number;
  info(): NativeAddonInfo;
  clearCache(): void;
  /** Whether eligible convolutions run Winograd (default on; off: every convolution on oneDNN's direct kernels). */
  setConvWinograd(on: boolean): void;
  conv2d(x: F32, w: F32, bias: F32 | null, y: F32, shape: number[], relu: boolean): void;
  conv2dBackpropInput(dy: F32, w: F32, dx: F32, shape: number[]): void;
  conv2dBackpropFilter(x: F32, dy: F32, dw: F32, shape: number[]): void;
  /** The oneDNN implementation each convolution primitive for this shape runs (e.g. 'jit:avx512_core'). */
  convImplementations(shape: number[]): {
    forward: string; backwardData: string; backwardWeights: string;
    /** How each filter reaches its primitive: 'hwio' (as is), a hand-copied blocked layout (e.g. 'Acdb64a'), 'reorder' (oneDNN's; always for Winograd), 'flipped taps'. */
    filterCopies: { forward: string; backwardData: string; backwardWeights: string };
  };
  /** shape = [batch, m, n, k, transposeA, transposeB] */
  matmul(a: F32, b: F32, bias: F32 | null, c: F32, shape: number[], relu: boolean): void;
  /** shape = [M, C] for channels-last data viewed as M rows of C channels. */
  bnStats(x: F32, mean: F32, variance: F32, shape: number[]): void;
  bnForward(x: F32, gamma: F32, beta: F32, residual: F32 | null, y: F32, mean: F32, variance: F32,
    shape: number[], eps: number, relu: boolean): void;
  /** y: the ReLU output (mask y > 0); or beta instead, without a residual: the mask recomputed from x. */
  bnBackward(dy: F32, x: F32, gamma: F32, mean: F32, variance: F32, y: F32 | null, dx: F32, dgamma: F32,
    dbeta: F32, dresidual: F32 | null, shape: number[], eps: number, beta?: F32 | null): void;
  bnApply(x: F32, mean: F32, variance: F32, gamma: F32 | null, beta: F32 | null, y: F32, shape: number[],
    eps: number): void;
  /** op: 0 add, 1 multiply, 2 subtract, 3 divide (same-length arrays). */
  binary(a: F32, b: F32, out: F32, n: number, op: 0 | 1 | 2 | 3): void;
  /** Broadcasting: out (dense, shape dims) from a and b read with the given strides (innermost 0 or 1). */
  binaryStrided(a: F32, b: F32, out: F32, dims: number[], stridesA: number[], stridesB: number[], op: 0 | 1 | 2 | 3): void;
  relu(x: F32, y: F32, n: number): void;
  /** y = exp(x), computed in double and rounded to float32 as TF.js's cpu kernel. */
  exp(x: F32, y: F32, n: number): void;
  /** y = min(max(x, lo), hi) as TF.js's ClipByValue (NaN passes through). */
  clip(x: F32, y: F32, n: number, lo: number, hi: number): void;
  /** dx = dy * step(x), TF.js's Relu gradient. */
  reluGrad(dy: F32, x: F32, dx: F32, n: number): void;
  step(x: F32, y: F32, n: number, alpha: number): void;
  /** out[a, c] = sum_r x[a, r, c]; shape = [A, R, C]. */
  sumMiddle(x: F32, out: F32, shape: number[]): void;
  poolForward(x: F32, y: F32, shape: number[], isMax: boolean): void;
  poolBackward(dy: F32, x: F32 | null, dx: F32, shape: number[], isMax: boolean): void;
  /** tf.image.cropAndResize, bilinear; shape = [batch, imageH, imageW, channels, boxes, cropH, cropW]. */
  cropAndResize(image: F32, boxes: F32, boxInd: Int32Array, out: F32, shape: number[], extrapolation: number): void;
  /** One SGD step over n values (src/optim/sgd.ts's arithmetic); v/vOut null without momentum. Outputs may alias inputs. */
  sgdUpdate(w: F32, g: F32, v: F32 | null, wOut: F32, vOut: F32 | null, n: number,
    mu: number, wd: number, lr: number, decay: boolean, nesterov: boolean): void;
  /** One LARS step (src/optim/lars.ts); returns the trust ratio used. */
  larsUpdate(w: F32, g: F32, v: F32, wOut: F32, vOut: F32, n: number,
    mu: number, wd: number, eta: number, lr: number, adapt: boolean, decay: boolean, nesterov: boolean): number;
  /** One Adam/AdamW step (src/optim/adam.ts). */
  adamUpdate(w: F32, g: F32, m: F32, v: F32, wOut: F32, mOut: F32, vOut: F32, n: number,
    b1: number, b2: number, omb1: number, omb2: number, eps: number, sqrtBc2: number, stepSize: number,
    shrink: number, wd: number, coupled: boolean, shrinks: boolean): void;
}

export type AddonLoad = { ok: true; addon: NativeAddon; path: string } | { ok: false; reason: string };

const nativeDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'native');

/** Why the last build did not produce an addon, from native/build-status.json. */
function buildReason(): string {
  try {
    const s = JSON.parse(readFileSync(join(nativeDir, 'build-status.json'), 'utf8')) as { ok?: boolean; reason?: string };
    if (s.ok === false && s.reason) return `not built at install: ${s.reason}`;
  } catch { /* no status file: install script never ran */ }
  return 'addon not built (run `node native/build.mjs`; needs libdnnl-dev)';
}

export function loadAddon(env: NodeJS.ProcessEnv = process.env): AddonLoad {
  if (env.SELFSUP_NATIVE === '0') return { ok: false, reason: 'forced off by SELFSUP_NATIVE=0' };
  const path = join(nativeDir, 'build', 'Release', 'selfsup_native.node');
  if (!existsSync(path)) return { ok: false, reason: buildReason() };
  try {
    const addon = createRequire(import.meta.url)(path) as NativeAddon;
    return { ok: true, addon, path };
  } catch (e) {
    // Typically libdnnl.so.2 missing at run time (package removed after the build).
    return { ok: false, reason: `addon failed to load: ${(e as Error).message.split('\n')[0]}` };
  }
}
