// Kernels for the wasm backend written as compositions of tfjs ops the backend
// already has. A kernel receives raw TensorInfos; to use ops on them we wrap each
// input in a Tensor (taking a reference so disposing the wrapper leaves the
// caller's data alone), compute inside tidy, and hand the result's data to the
// engine with one extra reference so the engine's own wrapper keeps it alive.
import * as tf from '@tensorflow/tfjs';

type Backend = tf.KernelBackend & { incRef(dataId: object): void };
type NamedInfos = Record<string, tf.TensorInfo>;

export type CompositeFn = (inputs: Record<string, tf.Tensor>, attrs: tf.NamedAttrMap) => tf.Tensor;

function wrap(info: tf.TensorInfo, backend: Backend): tf.Tensor {
  backend.incRef(info.dataId);
  return tf.engine().makeTensorFromTensorInfo(info, backend);
}

/** Turns `fn` (ops on tensors) into a kernelFunc returning one output. */
export function compositeKernel(fn: CompositeFn): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const b = backend as Backend;
    const out = tf.tidy(() => {
      const wrapped: Record<string, tf.Tensor> = {};
      for (const [k, info] of Object.entries(inputs as NamedInfos)) wrapped[k] = wrap(info, b);
      return fn(wrapped, (attrs ?? {}) as tf.NamedAttrMap);
    });
    b.incRef(out.dataId);
    const info: tf.TensorInfo = { dataId: out.dataId, shape: out.shape, dtype: out.dtype };
    out.dispose();
    return info;
  };
}
