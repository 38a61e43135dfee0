// The 'native' TF.js backend: the TF.js cpu backend (same tensor storage, same
// kernels for everything cold) with its hot kernels replaced by oneDNN
// primitives from native/ that work in place on the backend's Float32Arrays.
// loadNative registers it; choosing it (tf.setBackend) is the caller's job.
import * as tf from '@tensorflow/tfjs';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { loadAddon, type NativeAddon, type NativeAddonInfo } from './native-addon.ts';
import { nativeKernelConfigs, newKernelCounts, RELU_GRAD, type KernelCounts } from './native-kernels.ts';
import { BufferPool } from './native-pool.ts';

export const NATIVE_BACKEND = 'native';

export type NativeLoad = { ok: true; detail: string } | { ok: false; reason: string };

/** What a registered native backend instance carries besides the cpu backend's state. */
export interface NativeBackendExtras {
  readonly addon: NativeAddon;
  readonly counts: KernelCounts;
  readonly pool: BufferPool;
}

type CpuBackendClass = new () => MathBackendCPU;

/** The class of the cpu backend tfjs registered, so we share its module instance (and kernel registry). */
function cpuBackendClass(): CpuBackendClass {
  const cpu = tf.engine().findBackend('cpu');
  if (!cpu) throw new Error('the TF.js cpu backend is not registered');
  return Object.getPrototypeOf(cpu).constructor as CpuBackendClass;
}

function register(addon: NativeAddon): void {
  const counts = newKernelCounts();
  const Cpu = cpuBackendClass();
  class NativeBackend extends Cpu implements NativeBackendExtras {
    readonly addon = addon;
    readonly counts = counts;
    readonly pool = new BufferPool();

    // A disposed tensor's array goes back to the pool (if the pool still owns it).
    override disposeData(dataId: object, force = false): boolean {
      const values = this.data.get(dataId)?.values;
      const freed = super.disposeData(dataId, force);
      if (values instanceof Float32Array && !this.data.has(dataId)) this.pool.release(values);
      return freed;
    }

    // The cpu backend hands out the stored array itself: once read, it is the caller's.
    override readSync(dataId: object): tf.backend_util.BackendValues {
      const v = super.readSync(dataId);
      if (ArrayBuffer.isView(v)) this.pool.disown(v.buffer);
      return v;
    }

    override dispose(): void {
      this.pool.clear();
      super.dispose();
    }
  }
  for (const config of nativeKernelConfigs(NATIVE_BACKEND, addon, counts)) tf.registerKernel(config);
  registerReluGradient();
  // Priority 0: never chosen by tfjs on its own, only by an explicit setBackend.
  tf.registerBackend(NATIVE_BACKEND, () => new NativeBackend(), 0);
}

/**
 * Gradients are registered per kernel, not per backend: this wraps TF.js's
 * Relu gradient so that on 'native' it is one fused kernel, and on every other
 * backend exactly what it was.
 */
function registerReluGradient(): void {
  const original = tf.getGradient('Relu');
  if (!original || (original as { native?: boolean }).native) return;
  const config: tf.GradConfig & { native: true } = {
    ...original,
    native: true,
    gradFunc: (dy, saved, attrs) => {
      if (tf.getBackend() !== NATIVE_BACKEND || Array.isArray(dy) || dy.dtype !== 'float32') return original.gradFunc(dy, saved, attrs);
      const [x] = saved;
      return { x: () => tf.engine().runKernel(RELU_GRAD, { dy, x }) as tf.Tensor };
    },
  };
  tf.registerGradient(config);
}

/**
 * Loads the addon and registers the 'native' backend (once); `threads` sets
 * oneDNN's OpenMP thread count (default: OMP_NUM_THREADS or every core).
 * Honours SELFSUP_NATIVE=0 as "forced off".
 */
export async function loadNative(opts: { threads?: number } = {}): Promise<NativeLoad> {
  const r = loadAddon();
  if (!r.ok) return { ok: false, reason: r.reason };
  let info: NativeAddonInfo;
  try {
    r.addon.setThreads(opts.threads ?? 0);
    info = r.addon.info();
    if (!tf.findBackendFactory(NATIVE_BACKEND)) register(r.addon);
  } catch (e) {
    return { ok: false, reason: `addon loaded but failed to start: ${(e as Error).message.split('\n')[0]}` };
  }
  return {
    ok: true,
    detail: `oneDNN ${info.onednn} kernels on the TF.js cpu backend (${info.runtime}, ${info.threads} thread${info.threads === 1 ? '' : 's'}, `
      + `Winograd ${info.convWinograd ? 'on' : 'off'})`,
  };
}

/** The registered native backend's extras (addon, kernel counts), or null when it is not registered. */
export function nativeBackend(): (MathBackendCPU & NativeBackendExtras) | null {
  if (!tf.findBackendFactory(NATIVE_BACKEND)) return null;
  const b = tf.engine().findBackend(NATIVE_BACKEND) as (MathBackendCPU & Partial<NativeBackendExtras>) | null;
  return b && b.addon ? (b as MathBackendCPU & NativeBackendExtras) : null;
}

/** True when tensors are currently computed by the native backend. */
export function nativeActive(): boolean {
  return tf.getBackend() === NATIVE_BACKEND;
}
