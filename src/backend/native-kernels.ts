// TF.js kernels for the 'native' backend: the hot cpu kernels re-implemented on
// the oneDNN addon, reading and writing the cpu backend's Float32Arrays in
// place. Each kernel handles the common float32 case and hands anything else
// (other dtypes, broadcasting, NCHW, unsupported activations) to the cpu kernel
// it replaces, so the backend is always complete.
import * as tf from '@tensorflow/tfjs';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { NativeAddon } from './native-addon.ts';
import type { BufferPool } from './native-pool.ts';

type Attrs = Record<string, unknown>;
type Inputs = Record<string, tf.TensorInfo | undefined>;
/** The cpu backend, plus the output-buffer pool when it is the native backend. */
type Backend = MathBackendCPU & { pool?: BufferPool };
interface KernelArgs { inputs: Inputs; backend: Backend; attrs?: Attrs }
type KernelResult = tf.TensorInfo | tf.TensorInfo[];
/** Returns null to fall back to the cpu kernel. */
type NativeImpl = (args: KernelArgs, addon: NativeAddon) => KernelResult | null;

/** Counts per kernel of native runs and cpu fallbacks, for tests and profiling. */
export interface KernelCounts {
  native: Map<string, number>;
  fallback: Map<string, number>;
  /** First error message per kernel where the addon threw and the cpu kernel took over. */
  errors: Map<string, string>;
}

export function newKernelCounts(): KernelCounts { return { native: new Map(), fallback: new Map(), errors: new Map() }; }

// --- helpers ---------------------------------------------------------------

function f32(b: Backend, t: tf.TensorInfo | undefined): Float32Array | null {
  if (!t || t.dtype !== 'float32') return null;
  const v = b.data.get(t.dataId)?.values;
  return v instanceof Float32Array ? v : null;
}

/** Output storage: recycled when possible. Kernels must write every element. */
function alloc(b: Backend, n: number): Float32Array {
  return b.pool ? b.pool.alloc(n) : new Float32Array(n);
}

function out(b: Backend, shape: number[], values: Float32Array): tf.TensorInfo {
  return b.makeTensorInfo(shape, 'float32', values);
}

const size = (shape: number[]): number => shape.reduce((a, d) => a * d, 1);

/** oneDNN wants the right padding that makes its floor-division output size equal TF's. */
function rightPad(inSize: number, outSize: number, stride: number, effFilter: number, padBefore: number, padAfter: number): number {
  return Math.max(padAfter, (outSize - 1) * stride + effFilter - inSize - padBefore);
}

/** The addon's conv shape vector for a TF.js conv info (see NativeAddon). */
export function convShape(ci: tf.backend_util.Conv2DInfo): number[] {
  const effH = (ci.filterHeight - 1) * ci.dilationHeight + 1;
  const effW = (ci.filterWidth - 1) * ci.dilationWidth + 1;
  return [
    ci.batchSize, ci.inHeight, ci.inWidth, ci.inChannels, ci.filterHeight, ci.filterWidth, ci.outChannels,
    ci.outHeight, ci.outWidth, ci.strideHeight, ci.strideWidth, ci.dilationHeight, ci.dilationWidth,
    ci.padInfo.top, ci.padInfo.left,
    rightPad(ci.inHeight, ci.outHeight, ci.strideHeight, effH, ci.padInfo.top, ci.padInfo.bottom),
    rightPad(ci.inWidth, ci.outWidth, ci.strideWidth, effW, ci.padInfo.left, ci.padInfo.right),
  ];
}

function poolShape(ci: tf.backend_util.Conv2DInfo): number[] {
  return [
    ci.batchSize, ci.inHeight, ci.inWidth, ci.inChannels, ci.filterHeight, ci.filterWidth, ci.outHeight, ci.outWidth,
    ci.strideHeight, ci.strideWidth, ci.padInfo.top, ci.padInfo.left,
    rightPad(ci.inHeight, ci.outHeight, ci.strideHeight, ci.filterHeight, ci.padInfo.top, ci.padInfo.bottom),
    rightPad(ci.inWidth, ci.outWidth, ci.strideWidth, ci.filterWidth, ci.padInfo.left, ci.padInfo.right),
  ];
}

const channelsLast = (fmt: unknown): boolean => fmt === undefined || fmt === 'NHWC' || fmt === 'channelsLast';

/** A bias that broadcasts along the last axis only (shape [..1.., n]). */
function lastAxisBias(b: Backend, bias: tf.TensorInfo | undefined, n: number): Float32Array | null | undefined {
  if (!bias) return undefined;
  if (bias.shape.length === 0 || bias.shape[bias.shape.length - 1] !== n || size(bias.shape) !== n) return null;
  return f32(b, bias);
}

// --- convolution -------------------------------------------------------------

const conv2D: NativeImpl = ({ inputs, backend, attrs }, addon) => {
  const { x, filter } = inputs;
  const a = attrs as { strides: number | [number, number]; pad: 'same' | 'valid' | number | tf.backend_util.ExplicitPadding; dataFormat: string; dilations: number | [number, number]; dimRoundingMode?: 'floor' | 'round' | 'ceil' };
  const xv = f32(backend, x), wv = f32(backend, filter);
  if (!xv || !wv || !channelsLast(a.dataFormat)) return null;
  const ci = tf.backend_util.computeConv2DInfo(x!.shape as [number, number, number, number], filter!.shape as [number, number, number, number], a.strides, a.dilations, a.pad, a.dimRoundingMode, false, 'channelsLast');
  const y = alloc(backend, size(ci.outShape));
  addon.conv2d(xv, wv, null, y, convShape(ci), false);
  return out(backend, ci.outShape, y);
};

const fusedConv2D: NativeImpl = ({ inputs, backend, attrs }, addon) => {
  const { x, filter, bias } = inputs;
  const a = attrs as { strides: number | [number, number]; pad: 'same' | 'valid' | number | tf.backend_util.ExplicitPadding; dataFormat: string; dilations: number | [number, number]; dimRoundingMode?: 'floor' | 'round' | 'ceil'; activation: string };
  const xv = f32(backend, x), wv = f32(backend, filter);
  if (!xv || !wv || !channelsLast(a.dataFormat) || (a.activation !== 'linear' && a.activation !== 'relu')) return null;
  const ci = tf.backend_util.computeConv2DInfo(x!.shape as [number, number, number, number], filter!.shape as [number, number, number, number], a.strides, a.dilations, a.pad, a.dimRoundingMode, false, 'channelsLast');
  const bv = lastAxisBias(backend, bias, ci.outChannels);
  if (bv === null) return null;
  const y = alloc(backend, size(ci.outShape));
  addon.conv2d(xv, wv, bv ?? null, y, convShape(ci), a.activation === 'relu');
  return out(backend, ci.outShape, y);
};

const conv2DBackpropInput: NativeImpl = ({ inputs, backend, attrs }, addon) => {
  const { dy, filter } = inputs;
  const a = attrs as { inputShape: [number, number, number, number]; strides: number | [number, number]; pad: 'same' | 'valid' | number | tf.backend_util.ExplicitPadding; dataFormat: string; dimRoundingMode?: 'floor' | 'round' | 'ceil' };
  const dyv = f32(backend, dy), wv = f32(backend, filter);
  if (!dyv || !wv || !channelsLast(a.dataFormat)) return null;
  const ci = tf.backend_util.computeConv2DInfo(a.inputShape, filter!.shape as [number, number, number, number], a.strides, 1, a.pad, a.dimRoundingMode, false, 'channelsLast');
  const dx = alloc(backend, size(ci.inShape));
  addon.conv2dBackpropInput(dyv, wv, dx, convShape(ci));
  return out(backend, [...ci.inShape], dx);
};

const conv2DBackpropFilter: NativeImpl = ({ inputs, backend, attrs }, addon) => {
  const { x, dy } = inputs;
  const a = attrs as { filterShape: [number, number, number, number]; strides: number | [number, number]; pad: 'same' | 'valid' | number | tf.backend_util.ExplicitPadding; dataFormat: string; dimRoundingMode?: 'floor' | 'round' | 'ceil' };
  const xv = f32(backend, x), dyv = f32(backend, dy);
  if (!xv || !dyv || !channelsLast(a.dataFormat)) return null;
  const ci = tf.backend_util.computeConv2DInfo(x!.shape as [number, number, number, number], a.filterShape, a.strides, 1, a.pad, a.dimRoundingMode, false, 'channelsLast');
  const dw = alloc(backend, size(a.filterShape));
  addon.conv2dBackpropFilter(xv, dyv, dw, convShape(ci));
  return out(backend, [...a.filterShape], dw);
};

// --- matmul ------------------------------------------------------------------

function matMulCore(args: KernelArgs, addon: NativeAddon, bias: tf.TensorInfo | undefined, activation: string): KernelResult | null {
  const { inputs, backend, attrs } = args;
  const { a, b } = inputs;
  const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
  const av = f32(backend, a), bv = f32(backend, b);
  if (!av || !bv || a!.shape.length < 2 || b!.shape.length < 2) return null;
  if (activation !== 'linear' && activation !== 'relu') return null;
  const ra = a!.shape.length, rb = b!.shape.length;
  const batchA = a!.shape.slice(0, -2), batchB = b!.shape.slice(0, -2);
  if (!tf.util.arraysEqual(batchA, batchB)) return null; // broadcasting: leave to cpu
  const m = transposeA ? a!.shape[ra - 1] : a!.shape[ra - 2];
  const k = transposeA ? a!.shape[ra - 2] : a!.shape[ra - 1];
  const k2 = transposeB ? b!.shape[rb - 1] : b!.shape[rb - 2];
  const n = transposeB ? b!.shape[rb - 2] : b!.shape[rb - 1];
  if (k !== k2) return null; // let the cpu kernel raise its error
  const biasV = lastAxisBias(backend, bias, n);
  if (biasV === null) return null;
  const batch = size(batchA);
  const c = alloc(backend, batch * m * n);
  if (c.length > 0 && k > 0) addon.matmul(av, bv, biasV ?? null, c, [batch, m, n, k, transposeA ? 1 : 0, transposeB ? 1 : 0], activation === 'relu');
  else if (c.length > 0) return null;
  return out(backend, [...batchA, m, n], c);
}

const batchMatMul: NativeImpl = (args, addon) => matMulCore(args, addon, undefined, 'linear');
const fusedMatMul: NativeImpl = (args, addon) =>
  matMulCore(args, addon, args.inputs.bias, (args.attrs as { activation: string }).activation);

// --- elementwise and reductions ---------------------------------------------

/** Below this many elements the JS loop is as fast as a native call. */
const SMALL = 4096;

interface BroadcastPlan { outShape: number[]; dims: number[]; sa: number[]; sb: number[] }

/**
 * Loops for a broadcasting binary op: out is dense; each input gets stride 0
 * on the axes it is broadcast along. Size-1 axes are dropped and axes that are
 * contiguous in both inputs merged, so the inner loop is as long as possible.
 */
export function broadcastPlan(aShape: number[], bShape: number[]): BroadcastPlan | null {
  let outShape: number[];
  try { outShape = tf.backend_util.assertAndGetBroadcastShape(aShape, bShape); } catch { return null; }
  const r = outShape.length;
  const stridesFor = (shape: number[]) => {
    const padded = [...new Array(r - shape.length).fill(1), ...shape];
    const st = new Array<number>(r);
    let acc = 1;
    for (let i = r - 1; i >= 0; i--) { st[i] = padded[i] === 1 ? 0 : acc; acc *= padded[i]; }
    return st;
  };
  const fa = stridesFor(aShape), fb = stridesFor(bShape);
  const dims: number[] = [], sa: number[] = [], sb: number[] = [];
  for (let i = 0; i < r; i++) {
    if (outShape[i] === 1) continue;
    const k = dims.length - 1;
    // Merge into the previous (outer) axis when one flat index walks both.
    if (k >= 0 && sa[k] === fa[i] * outShape[i] && sb[k] === fb[i] * outShape[i]) {
      dims[k] *= outShape[i]; sa[k] = fa[i]; sb[k] = fb[i];
    } else { dims.push(outShape[i]); sa.push(fa[i]); sb.push(fb[i]); }
  }
  if (dims.length === 0) { dims.push(1); sa.push(0); sb.push(0); }
  return { outShape, dims, sa, sb };
}

/** Add / Multiply / Sub / RealDiv on float32, same-shape or broadcasting. */
function binary(op: 0 | 1 | 2 | 3): NativeImpl {
  return ({ inputs, backend }, addon) => {
    const { a, b } = inputs;
    const av = f32(backend, a), bv = f32(backend, b);
    if (!av || !bv || Math.max(av.length, bv.length) < SMALL) return null;
    if (tf.util.arraysEqual(a!.shape, b!.shape)) {
      const o = alloc(backend, av.length);
      addon.binary(av, bv, o, o.length, op);
      return out(backend, [...a!.shape], o);
    }
    const plan = broadcastPlan(a!.shape, b!.shape);
    if (!plan || plan.dims.length > 8) return null;
    const o = alloc(backend, size(plan.outShape));
    addon.binaryStrided(av, bv, o, plan.dims, plan.sa, plan.sb, op);
    return out(backend, plan.outShape, o);
  };
}

/** A float32 elementwise kernel: y = f(x) by `run` into a pooled array, for arrays of SMALL or more. */
function unary(run: (addon: NativeAddon, x: Float32Array, y: Float32Array, attrs: Attrs) => void): NativeImpl {
  return ({ inputs, backend, attrs }, addon) => {
    const xv = f32(backend, inputs.x);
    if (!xv || xv.length < SMALL) return null;
    const y = alloc(backend, xv.length);
    run(addon, xv, y, attrs ?? {});
    return out(backend, [...inputs.x!.shape], y);
  };
}

const relu = unary((addon, x, y) => addon.relu(x, y, y.length));
/** tf.exp: the softmax of every contrastive loss ([2N, 2N] logits, forward and gradient). */
const exp = unary((addon, x, y) => addon.exp(x, y, y.length));
/** tf.clipByValue: 8 passes per augmented batch (the colour jitter clamps after each op). */
const clipByValue = unary((addon, x, y, a) => addon.clip(x, y, y.length, a.clipValueMin as number, a.clipValueMax as number));
const step = unary((addon, x, y, a) => addon.step(x, y, y.length, (a.alpha as number | undefined) ?? 0));

/** tf.image.cropAndResize, bilinear (RandomResizedCrop's resize); 'nearest' stays on the cpu kernel. */
const cropAndResize: NativeImpl = ({ inputs, backend, attrs }, addon) => {
  const { image, boxes, boxInd } = inputs;
  const a = attrs as { cropSize: [number, number]; method: string; extrapolationValue: number };
  const iv = f32(backend, image), bv = f32(backend, boxes);
  const ind = boxInd ? backend.data.get(boxInd.dataId)?.values : undefined;
  if (!iv || !bv || !(ind instanceof Int32Array) || a.method !== 'bilinear' || image!.shape.length !== 4) return null;
  if (ind.some((i) => i < 0)) return null; // the cpu kernel's result (NaN pixels) for a user's bad index
  const [batch, ih, iw, c] = image!.shape;
  const [ch, cw] = a.cropSize;
  const nb = boxes!.shape[0];
  const y = alloc(backend, nb * ch * cw * c);
  addon.cropAndResize(iv, bv, ind, y, [batch, ih, iw, c, nb, ch, cw], a.extrapolationValue);
  return out(backend, [nb, ch, cw, c], y);
};

/** Sum (or mean) over one contiguous block of axes, as a [A, R, C] middle-axis reduction. */
function reduce(mean: boolean): NativeImpl {
  return ({ inputs, backend, attrs }, addon) => {
    const x = inputs.x;
    const xv = f32(backend, x);
    if (!xv || xv.length < SMALL) return null;
    const { axis, keepDims } = attrs as { axis: number | number[]; keepDims: boolean };
    const axes = tf.util.parseAxisParam(axis, x!.shape).sort((p, q) => p - q);
    if (axes.length === 0 || axes.some((ax, i) => i > 0 && ax !== axes[i - 1] + 1)) return null;
    const shape = x!.shape;
    const A = size(shape.slice(0, axes[0]));
    const R = size(shape.slice(axes[0], axes[axes.length - 1] + 1));
    const C = size(shape.slice(axes[axes.length - 1] + 1));
    const o = alloc(backend, A * C);
    addon.sumMiddle(xv, o, [A, R, C]);
    if (mean) for (let i = 0; i < o.length; i++) o[i] /= R;
    const outShape = keepDims ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i));
    return out(backend, outShape, o);
  };
}

const fusedBatchNorm: NativeImpl = ({ inputs, backend, attrs }, addon) => {
  const { x, mean, variance, offset, scale } = inputs;
  const xv = f32(backend, x);
  if (!xv || x!.shape.length === 0) return null;
  const C = x!.shape[x!.shape.length - 1];
  const mv = lastAxisBias(backend, mean, C), vv = lastAxisBias(backend, variance, C);
  const ov = lastAxisBias(backend, offset, C), sv = lastAxisBias(backend, scale, C);
  if (!mv || !vv || ov === null || sv === null) return null;
  const y = alloc(backend, xv.length);
  const eps = (attrs as { varianceEpsilon?: number }).varianceEpsilon ?? 0.001;
  addon.bnApply(xv, mv, vv, sv ?? null, ov ?? null, y, [xv.length / C, C], eps);
  return out(backend, [...x!.shape], y);
};

// --- pooling -----------------------------------------------------------------

type PoolAttrs = { filterSize: number | [number, number]; strides: number | [number, number]; pad: 'same' | 'valid' | number | tf.backend_util.ExplicitPadding; dimRoundingMode?: 'floor' | 'round' | 'ceil' };

function poolInfo(shape: number[], a: PoolAttrs): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computePool2DInfo(shape as [number, number, number, number], a.filterSize, a.strides, 1, a.pad, a.dimRoundingMode);
}

function poolForward(isMax: boolean): NativeImpl {
  return ({ inputs, backend, attrs }, addon) => {
    const xv = f32(backend, inputs.x);
    if (!xv || inputs.x!.shape.length !== 4) return null;
    const ci = poolInfo(inputs.x!.shape, attrs as PoolAttrs);
    const y = alloc(backend, size(ci.outShape));
    addon.poolForward(xv, y, poolShape(ci), isMax);
    return out(backend, ci.outShape, y);
  };
}

function poolBackward(isMax: boolean): NativeImpl {
  return ({ inputs, backend, attrs }, addon) => {
    const { dy, input } = inputs;
    const dyv = f32(backend, dy), xv = f32(backend, input);
    if (!dyv || !xv || input!.shape.length !== 4) return null;
    const ci = poolInfo(input!.shape, attrs as PoolAttrs);
    const dx = alloc(backend, xv.length);
    addon.poolBackward(dyv, isMax ? xv : null, dx, poolShape(ci), isMax);
    return out(backend, [...input!.shape], dx);
  };
}

// --- fused training-mode batch norm (custom kernels, native only) ------------

export const BN_STATS = 'SelfsupBatchNormStats';
export const BN_FORWARD = 'SelfsupBatchNormForward';
export const BN_BACKWARD = 'SelfsupBatchNormBackward';
export const RELU_GRAD = 'SelfsupReluGrad';

/** dy * step(x) in one pass (TF.js composes Step, Cast and Multiply). */
const reluGrad: NativeImpl = ({ inputs, backend }, addon) => {
  const dyv = need(f32(backend, inputs.dy), 'dy'), xv = need(f32(backend, inputs.x), 'x');
  const dx = alloc(backend, xv.length);
  addon.reluGrad(dyv, xv, dx, dx.length);
  return out(backend, [...inputs.x!.shape], dx);
};

function need(v: Float32Array | null, what: string): Float32Array {
  if (!v) throw new Error(`native batch norm: ${what} must be a float32 tensor`);
  return v;
}

/** x [M, C] -> [mean [C], biased variance [C]] */
const bnStats: NativeImpl = ({ inputs, backend }, addon) => {
  const x = inputs.x!;
  const xv = need(f32(backend, x), 'x');
  const C = x.shape[x.shape.length - 1];
  const mean = alloc(backend, C), variance = alloc(backend, C);
  addon.bnStats(xv, mean, variance, [xv.length / C, C]);
  return [out(backend, [C], mean), out(backend, [C], variance)];
};

/** y = [relu](gamma * xhat + beta [+ residual]) with the given batch statistics. */
const bnForward: NativeImpl = ({ inputs, backend, attrs }, addon) => {
  const { x, gamma, beta, mean, variance, residual } = inputs;
  const { epsilon, relu: withRelu } = attrs as { epsilon: number; relu: boolean };
  const xv = need(f32(backend, x), 'x');
  const C = x!.shape[x!.shape.length - 1];
  const y = alloc(backend, xv.length);
  addon.bnForward(xv, need(f32(backend, gamma), 'gamma'), need(f32(backend, beta), 'beta'),
    residual ? need(f32(backend, residual), 'residual') : null, y,
    need(f32(backend, mean), 'mean'), need(f32(backend, variance), 'variance'), [xv.length / C, C], epsilon, withRelu);
  return out(backend, [...x!.shape], y);
};

/** -> [dx, dgamma, dbeta] and, with a residual, dresidual. With a fused ReLU: `y`, or (no residual) `beta` to recompute the mask from x. */
const bnBackward: NativeImpl = ({ inputs, backend, attrs }, addon) => {
  const { dy, x, gamma, mean, variance, y, beta } = inputs;
  const { epsilon, residual } = attrs as { epsilon: number; residual: boolean };
  const xv = need(f32(backend, x), 'x');
  const C = x!.shape[x!.shape.length - 1];
  const dx = alloc(backend, xv.length), dg = alloc(backend, C), db = alloc(backend, C);
  const dr = residual ? alloc(backend, xv.length) : null;
  addon.bnBackward(need(f32(backend, dy), 'dy'), xv, need(f32(backend, gamma), 'gamma'), need(f32(backend, mean), 'mean'),
    need(f32(backend, variance), 'variance'), y ? need(f32(backend, y), 'y') : null, dx, dg, db, dr, [xv.length / C, C], epsilon,
    beta ? need(f32(backend, beta), 'beta') : null);
  const res = [out(backend, [...x!.shape], dx), out(backend, [C], dg), out(backend, [C], db)];
  if (dr) res.push(out(backend, [...x!.shape], dr));
  return res;
};

// --- registry ----------------------------------------------------------------

/** The kernels the native backend replaces; any other kernel is the cpu one. */
export const NATIVE_KERNELS: Record<string, NativeImpl> = {
  Conv2D: conv2D,
  FusedConv2D: fusedConv2D,
  Conv2DBackpropInput: conv2DBackpropInput,
  Conv2DBackpropFilter: conv2DBackpropFilter,
  BatchMatMul: batchMatMul,
  _FusedMatMul: fusedMatMul,
  Add: binary(0),
  Multiply: binary(1),
  Sub: binary(2),
  RealDiv: binary(3),
  Relu: relu,
  ClipByValue: clipByValue,
  Exp: exp,
  CropAndResize: cropAndResize,
  Step: step,
  Sum: reduce(false),
  Mean: reduce(true),
  FusedBatchNorm: fusedBatchNorm,
  MaxPool: poolForward(true),
  AvgPool: poolForward(false),
  MaxPoolGrad: poolBackward(true),
  AvgPoolGrad: poolBackward(false),
};

/** Custom kernels with no cpu counterpart: they exist only on 'native'. */
export const NATIVE_ONLY_KERNELS: Record<string, NativeImpl> = {
  [BN_STATS]: bnStats,
  [BN_FORWARD]: bnForward,
  [BN_BACKWARD]: bnBackward,
  [RELU_GRAD]: reluGrad,
};

/**
 * Kernel configs for `backendName`: every cpu kernel, with the ones in
 * NATIVE_KERNELS wrapped to try the addon first, plus the native-only ones.
 */
export function nativeKernelConfigs(backendName: string, addon: NativeAddon, counts: KernelCounts): tf.KernelConfig[] {
  const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  const configs: tf.KernelConfig[] = [];
  for (const cpu of tf.getKernelsForBackend('cpu')) {
    const impl = NATIVE_KERNELS[cpu.kernelName];
    const cpuFunc = cpu.kernelFunc as unknown as (args: KernelArgs) => KernelResult;
    // Any cpu kernel may return a view of (or the very array of) a pooled input.
    const runCpu = (args: KernelArgs) => disownAliases(args, cpuFunc(args));
    const kernelFunc = ((args: KernelArgs) => {
      if (!impl) return runCpu(args);
      let r: KernelResult | null = null;
      try {
        r = impl(args, addon);
      } catch (e) {
        // A shape oneDNN rejects: the cpu kernel still gives the right answer.
        if (!counts.errors.has(cpu.kernelName)) counts.errors.set(cpu.kernelName, (e as Error).message);
      }
      if (r !== null) { bump(counts.native, cpu.kernelName); return r; }
      bump(counts.fallback, cpu.kernelName);
      return runCpu(args);
    }) as unknown as tf.KernelFunc;
    configs.push({ ...cpu, backendName, kernelFunc });
  }
  for (const [kernelName, impl] of Object.entries(NATIVE_ONLY_KERNELS)) {
    const kernelFunc = ((args: KernelArgs) => {
      bump(counts.native, kernelName);
      return impl(args, addon)!;
    }) as unknown as tf.KernelFunc;
    configs.push({ kernelName, backendName, kernelFunc });
  }
  return configs;
}

/**
 * After a cpu kernel: an output stored under a new tensor whose array shares a
 * pooled input's buffer (Slice returns subarrays) must keep that buffer out of
 * the pool. Outputs that reuse an input's tensor id are reference-counted by
 * the backend and safe.
 */
function disownAliases(args: KernelArgs, result: KernelResult): KernelResult {
  const pool = args.backend.pool;
  if (!pool) return result;
  const outs = Array.isArray(result) ? result : [result];
  for (const o of outs) {
    if (Object.values(args.inputs).some((t) => t !== undefined && t.dataId === o.dataId)) continue;
    const v = args.backend.data.get(o.dataId)?.values;
    if (v && ArrayBuffer.isView(v)) pool.disown(v.buffer);
  }
  return result;
}
