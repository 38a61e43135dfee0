// Training kernels tfjs-backend-wasm lacks, registered for 'wasm' as
// compositions of ops it has. Gradients tfjs computes with these:
//   Conv2DBackpropFilter  <- conv2d's kernel gradient (every convolution layer)
//   UnsortedSegmentSum    <- gather's gradient (index-based losses, embeddings)
// and one that it has but runs as a scalar loop, replaced by a faster composition:
//   Conv2DBackpropInput   <- conv2d's input gradient
import * as tf from '@tensorflow/tfjs';
import { compositeKernel } from './wasm-composite.ts';
import { conv2dBackpropFilter, conv2dBackpropInput, convGradGeometry } from './wasm-conv-grad.ts';

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
/** Kernels stock wasm has, replaced by faster compositions. */
export const WASM_REPLACED_KERNELS: readonly tf.KernelConfig[] = [conv2DBackpropInputConfig];

/**
 * Registers the shims for 'wasm' (idempotent). Missing kernels are only added
 * where wasm has none; replacements swap out the stock kernel. Returns the
 * names of the kernels that are ours after the call.
 */
export function registerWasmTrainingKernels(): string[] {
  const ours: string[] = [];
  for (const k of WASM_MISSING_KERNELS) {
    const current = tf.getKernel(k.kernelName, BACKEND);
    if (!current) tf.registerKernel(k);
    if (!current || current.kernelFunc === k.kernelFunc) ours.push(k.kernelName);
  }
  for (const k of WASM_REPLACED_KERNELS) {
    const current = tf.getKernel(k.kernelName, BACKEND);
    if (current?.kernelFunc !== k.kernelFunc) {
      // Unregister first: registering over a kernel works but logs a warning.
      if (current) tf.unregisterKernel(k.kernelName, BACKEND);
      tf.registerKernel(k);
    }
    ours.push(k.kernelName);
  }
  return ours;
}
