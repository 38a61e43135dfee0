// Optimizer arithmetic on the host, for backends whose tensors live in JS typed
// arrays (tfjs 'cpu' and backends built on its class, such as native/). There,
// every tfjs elementwise op is a generic kernel costing ~50-100 ns per element:
// an SGD step over ResNet-18's 11M parameters took ~5 s as tfjs ops and ~0.5 s
// as one JS loop per parameter (AdamW: ~15 s vs ~0.8 s). Not used for wasm, where
// copying out of and back into the wasm heap costs more than its native ops.
// The loops round every intermediate to float32 in the same order as the tfjs
// ops of the tensor path, so on the cpu backend both paths give identical bits
// (sums of two float32s or products computed in double and then rounded are
// correctly rounded float32 results). On the native backend the same loops run in
// the addon (native/src/optim.cc, nativeUpdates below): ~17 ms for ResNet-18's
// SGD step against ~110 ms in JS, with the same bits for SGD and Adam.
import * as tf from '@tensorflow/tfjs';
import { alloc, read, write } from '../backend/host-memory.ts';
import type { NativeAddon } from '../backend/native-addon.ts';
import { nativeActive, nativeBackend } from '../backend/native.ts';

export { alloc, read, write };

/** 'auto' picks 'host' on host-memory backends and 'tensor' (plain tfjs ops) elsewhere, e.g. GPUs. */
export type MathMode = 'auto' | 'host' | 'tensor';

export function useHostMath(mode: MathMode): boolean {
  if (mode !== 'auto') return mode === 'host';
  if (tf.getBackend() === 'cpu') return true;
  // Backends that reuse tfjs's CPU backend class (such as our native oneDNN one) keep
  // their data in JS typed arrays too. Checked by class name, not instanceof: the CPU
  // backend package can be loaded twice (ESM and CJS builds).
  for (let p = Object.getPrototypeOf(tf.backend()); p; p = Object.getPrototypeOf(p)) {
    if (p.constructor?.name === 'MathBackendCPU') return true;
  }
  return false;
}

/** The addon's fused update kernels (same arithmetic as the host loops) when the native backend is active. */
export function nativeUpdates(): NativeAddon | null {
  return nativeActive() ? nativeBackend()?.addon ?? null : null;
}

/** As tf.sqrt(tf.sum(tf.square(x))) on the cpu backend: float32 squares, double accumulation. */
export function norm(x: Float32Array): number {
  const f = Math.fround;
  let s = 0;
  for (let i = 0; i < x.length; i++) s += f(x[i] * x[i]);
  return f(Math.sqrt(f(s)));
}
