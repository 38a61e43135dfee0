// Training kernels tfjs-backend-wasm lacks, registered for 'wasm' as
// compositions of ops it has. Gradients tfjs computes with these:
//   Conv2DBackpropFilter  <- conv2d's kernel gradient (every convolution layer)
//   UnsortedSegmentSum    <- gather's gradient (index-based losses, embeddings)
// and kernels it has but runs slowly, replaced by faster compositions:
//   Conv2DBackpropInput   <- conv2d's input gradient (stock: a scalar loop)
//   Sum, Mean             <- batch-norm statistics and every broadcast gradient,
//                            over non-innermost axes (stock: transpose + loop)
//   BatchMatMul           <- matMul gradients and z z^T, i.e. with transpose
//                            flags (stock: a scalar loop)
import * as tf from '@tensorflow/tfjs';
import { compositeKernel } from './wasm-composite.ts';
import { conv2dBackpropFilter, conv2dBackpropInput, convGradGeometry } from './wasm-conv-grad.ts';
import { fastBatchMatMul } from './wasm-matmul.ts';
import { pooledReduction } from './wasm-reduce.ts';

const BACKEND = 'wasm';

const conv2DBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  backendName: BACKEND,
  kernelFunc: compositeKernel(({ x, dy }, attrs) => {
    const g = convGradGeometry(attrs, 'Conv2DBackpropFilter');
    return conv2dBackpropFilter(x as tf.Tensor4D, dy as tf.Tensor4D, attrs.filterShape as [number, number, number, number], g);
  }),
};

const conv2DBackpropInputConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropInput,
  backendName: BACKEND,
  kernelFunc: compositeKernel(({ dy, filter }, attrs) => {
    const g = convGradGeometry(attrs, 'Conv2DBackpropInput');
    return conv2dBackpropInput(dy as tf.Tensor4D, filter as tf.Tensor4D, attrs.inputShape as [number, number, number, number], g);
  }),
};

/** out[s, ...] = sum of x[i, ...] over i with segmentIds[i] == s (ids outside [0, numSegments) are dropped, as in TF). */
export function unsortedSegmentSum(x: tf.Tensor, segmentIds: tf.Tensor, numSegments: number): tf.Tensor {
  return tf.tidy(() => {
    // segmentIds may cover several leading axes of x; flatten them to one.
    const lead = segmentIds.size;
    const rest = x.shape.slice(segmentIds.rank);
    const inner = rest.reduce((a, b) => a * b, 1);
    const oneHot = tf.oneHot(tf.cast(tf.reshape(segmentIds, [lead]), 'int32'), numSegments); // [lead, S]
    const sums = tf.matMul(tf.transpose(tf.cast(oneHot, x.dtype)), tf.reshape(x, [lead, inner])); // [S, inner]
    return tf.reshape(sums, [numSegments, ...rest]);
  });
}

const unsortedSegmentSumConfig: tf.KernelConfig = {
  kernelName: tf.UnsortedSegmentSum,
  backendName: BACKEND,
  kernelFunc: compositeKernel(({ x, segmentIds }, attrs) => {
    if (x.dtype !== 'float32') throw new Error(`UnsortedSegmentSum on wasm: only float32 data is supported, got ${x.dtype}`);
    return unsortedSegmentSum(x, segmentIds, attrs.numSegments as number);
  }),
};

/** Kernels stock wasm lacks. */
export const WASM_MISSING_KERNELS: readonly tf.KernelConfig[] = [conv2DBackpropFilterConfig, unsortedSegmentSumConfig];

/** Kernels stock wasm has, replaced by faster compositions (some fall back to the stock one they are given). */
const WASM_REPLACEMENTS: Record<string, (stock: tf.KernelConfig) => tf.KernelConfig> = {
  [tf.Conv2DBackpropInput]: (stock) => ({ ...stock, kernelFunc: conv2DBackpropInputConfig.kernelFunc }),
  [tf.Sum]: (stock) => pooledReduction('Sum', stock),
  [tf.Mean]: (stock) => pooledReduction('Mean', stock),
  [tf.BatchMatMul]: (stock) => fastBatchMatMul(stock),
};

/** Marks kernel functions registered here, so registering twice is a no-op. */
const OURS = Symbol.for('selfsup.wasm.kernel');
type Marked = tf.KernelFunc & { [OURS]?: true };
const isOurs = (k: tf.KernelConfig | undefined) => !!k && (k.kernelFunc as Marked)[OURS] === true;
function mark(k: tf.KernelConfig): tf.KernelConfig {
  const kernelFunc: Marked = (args) => k.kernelFunc(args);
  kernelFunc[OURS] = true;
  return { ...k, kernelFunc };
}

/**
 * Registers the shims for 'wasm' (idempotent; call before tf.setBackend so the
 * stock setup functions the replacements keep are run). Missing kernels are
 * added where wasm has none; replacements wrap or swap out the stock kernel.
 * Returns the names of the kernels that are ours after the call.
 */
export function registerWasmTrainingKernels(): string[] {
  const ours: string[] = [];
  for (const k of WASM_MISSING_KERNELS) {
    const current = tf.getKernel(k.kernelName, BACKEND);
    if (!current) tf.registerKernel(mark(k));
    if (!current || isOurs(current)) ours.push(k.kernelName);
  }
  for (const [name, replace] of Object.entries(WASM_REPLACEMENTS)) {
    const current = tf.getKernel(name, BACKEND);
    if (!current) continue; // nothing to replace (a future tfjs may differ); leave it alone
    if (!isOurs(current)) {
      // Unregister first: registering over a kernel works but logs a warning.
      tf.unregisterKernel(name, BACKEND);
      tf.registerKernel(mark(replace(current)));
    }
    ours.push(name);
  }
  return ours;
}
