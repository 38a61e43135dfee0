// The TF.js wasm backend (XNNPACK), made able to train: the gradient kernels it
// lacks are registered as compositions of its own ops (wasm-kernels.ts) and, in
// Node, its multi-threaded build is loaded by hand (wasm-threads.ts) since the
// package only offers threads in browsers. Registers the backend as 'wasm';
// activating it (tf.setBackend) is the caller's job.
import * as tf from '@tensorflow/tfjs';
import * as wasmPkg from '@tensorflow/tfjs-backend-wasm';
import os from 'node:os';
import { registerWasmTrainingKernels } from './wasm-kernels.ts';
import { createThreadedBackend, threadsUnavailableReason, wasmFiles } from './wasm-threads.ts';

export type WasmLoadResult = { ok: true; detail: string } | { ok: false; reason: string };

export interface WasmOptions {
  /** XNNPACK threads including the calling one; default: the machine's logical cores (at most 8). */
  threads?: number;
}

/** Emscripten pre-spawns 8 pthread workers; asking for more would block on workers that never start. */
export const MAX_WASM_THREADS = 8;
const WASM_PRIORITY = 2;
/** Marks the backend factory loadWasm registered, and what it said about itself. */
const DETAIL = Symbol.for('selfsup.wasm.detail');
type MarkedFactory = (() => tf.KernelBackend | Promise<tf.KernelBackend>) & { [DETAIL]?: string };

// A module using a SIMD instruction (from GoogleChromeLabs/wasm-feature-detect, as tfjs uses).
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 10, 9, 1, 7, 0, 65, 0, 253, 15, 26, 11]);

function defaultThreads(): number {
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Math.max(1, Math.min(cores, MAX_WASM_THREADS));
}

export async function loadWasm(opts: WasmOptions = {}): Promise<WasmLoadResult> {
  const threads = opts.threads ?? defaultThreads();
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_WASM_THREADS) {
    return { ok: false, reason: `threads must be an integer in 1..${MAX_WASM_THREADS}, got ${threads}` };
  }
  if (typeof WebAssembly !== 'object') return { ok: false, reason: 'this JavaScript runtime has no WebAssembly' };
  const shims = registerWasmTrainingKernels();

  // Already set up by an earlier call (or already running): keep it, the
  // running instance cannot change its thread pool.
  // (tf.findBackend would start initialising a registered backend, so look in the registry.)
  if (tf.engine().registry['wasm']) return { ok: true, detail: `TF.js wasm (XNNPACK), running with ${wasmPkg.getThreadsCount()} thread(s)` };
  const registered = tf.findBackendFactory('wasm') as MarkedFactory | null;
  if (registered?.[DETAIL]) return { ok: true, detail: registered[DETAIL] };
  if (!registered) return { ok: false, reason: '@tensorflow/tfjs-backend-wasm did not register a backend' };

  const files = wasmFiles();
  const simd = WebAssembly.validate(SIMD_PROBE);
  wasmPkg.setWasmPaths(files.dist);
  const stock = registered;

  let factory: MarkedFactory;
  let detail: string;
  const noThreads = threads === 1 ? 'one thread requested' : !simd ? 'no WebAssembly SIMD' : threadsUnavailableReason(files);
  if (noThreads) {
    factory = () => stock();
    detail = `TF.js wasm (XNNPACK${simd ? ', SIMD' : ''}), 1 thread (${noThreads})`;
  } else {
    try {
      // Built now rather than at setBackend so a failure is reported here.
      const backend = await createThreadedBackend(threads, files);
      factory = () => backend;
      detail = `TF.js wasm (XNNPACK, SIMD), ${wasmPkg.getThreadsCount()} threads (threaded build)`;
    } catch (e) {
      factory = () => stock();
      detail = `TF.js wasm (XNNPACK, SIMD), 1 thread (threaded build failed: ${(e as Error).message.split('\n')[0]})`;
    }
  }
  detail += `; training shims: ${shims.join(', ')}`;
  factory[DETAIL] = detail;
  tf.removeBackend('wasm');
  tf.registerBackend('wasm', factory, WASM_PRIORITY);
  return { ok: true, detail };
}
