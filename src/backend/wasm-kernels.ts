// Training kernels tfjs-backend-wasm lacks, registered for 'wasm' as
// compositions of ops it has. Gradients tfjs computes with these:
//   Conv2DBackpropFilter  <- conv2d's kernel gradient (every convolution layer)
//   UnsortedSegmentSum    <- gather's gradient (index-based losses, embeddings)
import * as tf from '@tensorflow/tfjs';
import { compositeKernel } from './wasm-composite.ts';
import { conv2dBackpropFilter, convGradGeometry } from './wasm-conv-grad.ts';

const BACKEND = 'wasm';

const conv2DBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  backendName: BACKEND,
  kernelFunc: compositeKernel(({ x, dy }, attrs) => {
    const g = convGradGeometry(attrs, 'Conv2DBackpropFilter');
    return conv2dBackpropFilter(x as tf.Tensor4D, dy as tf.Tensor4D, attrs.filterShape as [number, number, number, number], g);
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

export const WASM_TRAINING_KERNELS: readonly tf.KernelConfig[] = [conv2DBackpropFilterConfig, unsortedSegmentSumConfig];

/** Registers the shims that are missing for 'wasm'; kernels wasm already has are left alone. Returns the names registered now. */
export function registerWasmTrainingKernels(): string[] {
  const added: string[] = [];
  for (const k of WASM_TRAINING_KERNELS) {
    if (tf.getKernel(k.kernelName, BACKEND)) continue;
    tf.registerKernel(k);
    added.push(k.kernelName);
  }
  return added;
}
