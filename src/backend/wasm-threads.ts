// The multi-threaded (pthreads + SIMD) build of tfjs-backend-wasm, made to run
// under Node. The package only offers threads in browsers: in Node it forces the
// single-threaded build (tfjs issue #3830), and its browser path hands
// Emscripten Blob URLs that Node's worker_threads cannot load. Here we
// instantiate the same Emscripten module ourselves with file paths:
// - the pthread worker script ships only as a JS string (wasmWorkerContents);
//   it is written once to the OS temp folder so `new Worker(path)` can run it;
// - the workers re-load the module's main script from its file path;
// - tfjs caps XNNPACK's pool at navigator.hardwareConcurrency / 2 (it assumes
//   two hyper-threads per core), which is 1 on a 2-vCPU machine; we report
//   2 * threads cores to the module so the count the caller asked for is used.
import * as tf from '@tensorflow/tfjs';
import * as wasmPkg from '@tensorflow/tfjs-backend-wasm';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

const require = createRequire(import.meta.url);

/** The subset of the Emscripten module BackendWasm needs, plus the pthread bookkeeping. */
interface EmscriptenModule {
  cwrap(name: string, ret: string | null, args: string[]): (...a: number[]) => number;
  PThread?: { runningWorkers: { unref(): void }[]; unusedWorkers: { unref(): void }[] };
  tfjs?: Record<string, unknown>;
}
type ModuleFactory = (config: Record<string, unknown>) => Promise<EmscriptenModule>;

export interface WasmFiles {
  dist: string;
  /** The Emscripten JS loader of the threaded build (also what each worker re-imports). */
  threadedJs: string;
  threadedWasm: string;
  workerModule: string;
}

export function wasmFiles(): WasmFiles {
  const root = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  return {
    dist: path.join(root, 'dist') + path.sep,
    threadedJs: path.join(root, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.js'),
    threadedWasm: path.join(root, 'dist', 'tfjs-backend-wasm-threaded-simd.wasm'),
    workerModule: path.join(root, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.worker.js'),
  };
}

/** Why threads cannot work in this process, or null if they should. */
export function threadsUnavailableReason(files: WasmFiles): string | null {
  if (typeof SharedArrayBuffer === 'undefined') return 'SharedArrayBuffer is not available';
  for (const f of [files.threadedJs, files.threadedWasm, files.workerModule]) {
    if (!existsSync(f)) return `${f} is missing`;
  }
  return null;
}

/** Writes the pthread worker script where worker_threads can load it; content-addressed so versions never clash. */
function workerScript(files: WasmFiles): string {
  const { wasmWorkerContents } = require(files.workerModule) as { wasmWorkerContents: string };
  // The string holds "\n" escapes meant for a JS string literal inside the script
  // (the package escapes them the same way before making its Blob).
  const body = wasmWorkerContents.replace(/\n/g, '\\n');
  const hash = createHash('sha256').update(body).digest('hex').slice(0, 16);
  const file = path.join(os.tmpdir(), `selfsup-tfjs-wasm-worker-${hash}.cjs`);
  if (!existsSync(file)) {
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, body);
    renameSync(tmp, file);
  }
  return file;
}

/** Creates a BackendWasm on the threaded build with `threads` XNNPACK threads (the caller's thread counts as one). */
export async function createThreadedBackend(threads: number, files: WasmFiles): Promise<tf.KernelBackend> {
  const factory = require(files.threadedJs) as ModuleFactory;
  const worker = workerScript(files);
  const compiled = await WebAssembly.compile(readFileSync(files.threadedWasm));
  const module = await factory({
    locateFile: (p: string, prefix: string) =>
      p.endsWith('.worker.js') ? worker : p.endsWith('.wasm') ? files.threadedWasm : prefix + p,
    mainScriptUrlOrBlob: files.threadedJs,
    // Emscripten's hook; a throw here rejects the factory's promise.
    instantiateWasm: (imports: { env: Record<string, unknown> }, receive: (i: WebAssembly.Instance, m: WebAssembly.Module) => void) => {
      imports.env.emscripten_num_logical_cores = () => 2 * threads;
      const instance = new WebAssembly.Instance(compiled, imports as unknown as WebAssembly.Imports);
      receive(instance, compiled);
      return instance.exports;
    },
  });
  module.tfjs = {
    init: module.cwrap('init', null, []),
    initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
    getThreadsCount: module.cwrap('get_threads_count', 'number', []),
    registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: module.cwrap('dispose_data', null, ['number']),
    dispose: module.cwrap('dispose', null, []),
  };
  wasmPkg.setThreadsCount(threads);
  const backend = new wasmPkg.BackendWasm(module as never);
  // Idle pool threads must not keep the process alive once the program is done.
  for (const w of [...(module.PThread?.runningWorkers ?? []), ...(module.PThread?.unusedWorkers ?? [])]) w.unref();
  return backend;
}
