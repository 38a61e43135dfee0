// matMul with transpose flags, on wasm's fast path. Stock wasm hands BatchMatMul
// to XNNPACK only when neither operand is transposed; with either flag (every
// matMul gradient, and z z^T in NT-Xent) it runs a blocked scalar loop. For
// unbatched float32 products we transpose the operand explicitly (XNNPACK's
// transpose is cheap next to the product) and multiply without flags.
import * as tf from '@tensorflow/tfjs';
import { compositeKernel } from './wasm-composite.ts';

function unbatched(t: tf.TensorInfo): boolean {
  return t.shape.slice(0, -2).every((d) => d === 1);
}

export function fastBatchMatMul(stock: tf.KernelConfig): tf.KernelConfig {
  const explicit = compositeKernel(({ a, b }, attrs) => {
    const a2 = tf.reshape(a, a.shape.slice(-2) as [number, number]) as tf.Tensor2D;
    const b2 = tf.reshape(b, b.shape.slice(-2) as [number, number]) as tf.Tensor2D;
    const y = tf.matMul(attrs.transposeA ? tf.transpose(a2) : a2, attrs.transposeB ? tf.transpose(b2) : b2);
    const lead = a.rank >= b.rank ? a.shape.slice(0, -2) : b.shape.slice(0, -2);
    return tf.reshape(y, [...lead, ...y.shape]);
  });
  const kernelFunc: tf.KernelFunc = (args) => {
    const { a, b } = args.inputs as Record<string, tf.TensorInfo>;
    const { transposeA, transposeB } = args.attrs as { transposeA?: boolean; transposeB?: boolean };
    const flagged = !!transposeA || !!transposeB;
    return flagged && a.dtype === 'float32' && b.dtype === 'float32' && unbatched(a) && unbatched(b)
      ? explicit(args) : stock.kernelFunc(args);
  };
  return { ...stock, kernelFunc };
}
