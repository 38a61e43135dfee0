// Per-image color transforms as small matrices, built in JS.
//
// Each jitter op is affine in a pixel's color: brightness b*v, saturation
// s*v + (1-s)*gray(v)*1, hue a rotation about the gray axis, contrast
// c*v + (1-c)*mean_gray*1. torchvision applies the four in a random order per
// image, clamping to [0, 1] after each; the clamps are what make the order
// matter (without them these four maps commute). So the jitter runs as four
// slots: in slot s every image applies the op its order puts there (identity
// for images without jitter), as one batched matmul, plus the contrast offsets,
// plus a clamp. Grayscale is one more matmul. Channel conversion (1 <-> 3) and
// the uint8 scale ride along in the first step.
//
// One deliberate difference from torchvision: hue is a rotation of the YIQ
// chroma plane (as NVIDIA DALI's Hue / ColorTwist, used by solo-learn's DALI
// pipeline), not an HSV shift: a 3x3 matrix instead of ~25 nonlinear tensor ops.
// It keeps luma exactly.
import { BRIGHTNESS, CONTRAST, HUE, SATURATION, type ViewParams } from './params.ts';

/** ITU-R 601 luma weights (torchvision's rgb_to_grayscale, with 0.299 so they sum to 1). */
export const GRAY: readonly number[] = [0.299, 0.587, 0.114];

/** Row-major matrix, column-vector convention: v' = M v. */
export type Mat = number[];

const RGB_TO_YIQ: Mat = [0.299, 0.587, 0.114, 0.596, -0.274, -0.322, 0.211, -0.523, 0.312];
const YIQ_TO_RGB: Mat = invert3(RGB_TO_YIQ);

/** One batched color step: out = clamp?(x @ A_i + offsetCoef_i * mu_i), mu_i = mean over pixels of meanWeights . x. */
export interface ColorStep {
  inChannels: number;
  outChannels: number;
  /** n * in * out: per-image matrix laid out for row-vector pixels (A_i = M_i^T). */
  matrices: Float32Array;
  /** Per-image coefficient of the contrast offset, or null when no image needs one. */
  offsetCoef: Float32Array | null;
  /** Gray weights on this step's input channels (includes the input scale). */
  meanWeights: number[];
  clamp: boolean;
}

/**
 * The color steps of a view: (conversion cin -> cout and inputScale folded into the first step),
 * four jitter slots, grayscale. Steps nobody needs are dropped; an empty list means the
 * input passes through unchanged (and still carries inputScale).
 * With one output channel only brightness and contrast apply (the grayscale-safe variant).
 */
export function colorSteps(p: ViewParams, cin: number, cout: number, inputScale: number): ColorStep[] {
  const steps: ColorStep[] = [];
  // The pending linear map from the current tensor's channels to cout channels.
  let pending: Mat | null = cin === cout ? null : conversion(cin, cout);
  let pendingIn = cin;
  let pendingScale = inputScale;
  const emit = (ms: Mat[], coef: Float32Array | null, clamp: boolean) => {
    const pre = pending ?? eye(cout);
    const full = ms.map((M) => mul(M, pre, cout).map((v) => v * pendingScale));
    const meanWeights = mul(GRAY.length === cout ? [...GRAY] : [1], pre, 1).map((v) => v * pendingScale);
    steps.push({ inChannels: pendingIn, outChannels: cout, matrices: layout(full, pendingIn, cout), offsetCoef: coef, meanWeights, clamp });
    pending = null; pendingIn = cout; pendingScale = 1;
  };
  for (let slot = 0; slot < 4; slot++) {
    let any = false;
    let coef: Float32Array | null = null;
    const ms: Mat[] = [];
    for (let i = 0; i < p.n; i++) {
      const op = p.jitter[i] ? p.orders[i * 4 + slot] : -1;
      const f = op >= 0 ? p.factors[i * 4 + op] : 0;
      let M = eye(cout);
      if (op === BRIGHTNESS || op === CONTRAST) M = scale(M, f);
      else if (cout === 3 && op === SATURATION) M = saturation(f);
      else if (cout === 3 && op === HUE) M = hueRotation(f);
      if (op === CONTRAST && f !== 1) (coef ??= new Float32Array(p.n))[i] = 1 - f;
      if (!isEye(M)) any = true;
      ms.push(M);
    }
    if (any || coef) emit(ms, coef, true);
  }
  if (cout === 3 && p.gray.some((g) => g)) {
    emit(Array.from(p.gray, (g) => (g ? grayscale() : eye(3))), null, false);
  }
  if (pending) emit(new Array(p.n).fill(eye(cout)), null, false);
  return steps;
}

/** cout x cin matrix taking an input pixel to the output channel count. */
export function conversion(cin: number, cout: number): Mat {
  if (cin === cout) return eye(cout);
  if (cin === 1 && cout === 3) return [1, 1, 1];
  if (cin === 3 && cout === 1) return [...GRAY];
  throw new Error(`conversion: unsupported channels ${cin} -> ${cout}`);
}

export function saturation(s: number): Mat {
  const M = eye(3);
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) M[r * 3 + c] = s * M[r * 3 + c] + (1 - s) * GRAY[c];
  return M;
}

/** Rotates chroma by `h` turns (h in [-0.5, 0.5]); positive h turns red towards green, as an HSV hue shift does. */
export function hueRotation(h: number): Mat {
  const t = 2 * Math.PI * h, c = Math.cos(t), s = Math.sin(t);
  return mul(YIQ_TO_RGB, mul([1, 0, 0, 0, c, s, 0, -s, c], RGB_TO_YIQ));
}

export function grayscale(): Mat {
  return [...GRAY, ...GRAY, ...GRAY];
}

/** Per-image cout x cin matrices -> n * cin * cout floats, transposed for x @ A. */
function layout(ms: Mat[], cin: number, cout: number): Float32Array {
  const out = new Float32Array(ms.length * cin * cout);
  ms.forEach((M, i) => {
    for (let a = 0; a < cin; a++) for (let b = 0; b < cout; b++) out[i * cin * cout + a * cout + b] = M[b * cin + a];
  });
  return out;
}

function eye(n: number): Mat {
  const M = new Array<number>(n * n).fill(0);
  for (let i = 0; i < n; i++) M[i * n + i] = 1;
  return M;
}

function isEye(M: Mat): boolean {
  const n = Math.round(Math.sqrt(M.length));
  return M.every((v, i) => v === (Math.floor(i / n) === i % n ? 1 : 0));
}

function scale(M: Mat, f: number): Mat { return M.map((v) => v * f); }

/** A (r x k) times B (k x c); r defaults to a square A. */
export function mul(A: Mat, B: Mat, r = Math.round(Math.sqrt(A.length))): Mat {
  const k = A.length / r;
  const c = B.length / k;
  const out = new Array<number>(r * c).fill(0);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) {
    let s = 0;
    for (let q = 0; q < k; q++) s += A[i * k + q] * B[q * c + j];
    out[i * c + j] = s;
  }
  return out;
}

function invert3(m: Mat): Mat {
  const [a, b, c, d, e, f, g, h, i] = m;
  const A = e * i - f * h, B = -(d * i - f * g), C = d * h - e * g;
  const det = a * A + b * B + c * C;
  return [A, -(b * i - c * h), b * f - c * e, B, a * i - c * g, -(a * f - c * d), C, -(a * h - b * g), a * e - b * d].map((v) => v / det);
}
