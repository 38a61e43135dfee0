import * as tf from '@tensorflow/tfjs';
import * as wasm from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import path from 'node:path';
import fs from 'node:fs';
import os from 'node:os';
const require = createRequire(import.meta.url);
const pkgDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
const factory = require(path.join(pkgDir, 'wasm-out/tfjs-backend-wasm-threaded-simd.js'));
const { wasmWorkerContents } = require(path.join(pkgDir, 'wasm-out/tfjs-backend-wasm-threaded-simd.worker.js'));
const workerFile = path.join(os.tmpdir(), 'selfsup-wasm-worker.cjs');
fs.writeFileSync(workerFile, wasmWorkerContents.replace(/\n/g, '\\n'));
const mainJs = path.join(pkgDir, 'wasm-out/tfjs-backend-wasm-threaded-simd.js');
tf.removeBackend('wasm');
const threads = Number(process.argv[2] ?? 2);
wasm.setThreadsCount(threads);
tf.registerBackend('wasm', async () => {
  const mod = await factory({
    locateFile: (p: string, prefix: string) => p.endsWith('.worker.js') ? workerFile : p.endsWith('.wasm') ? path.join(pkgDir, 'dist/tfjs-backend-wasm-threaded-simd.wasm') : prefix + p,
    mainScriptUrlOrBlob: mainJs,
  });
  mod.tfjs = {
    init: mod.cwrap('init', null, []),
    initWithThreadsCount: mod.cwrap('init_with_threads_count', null, ['number']),
    getThreadsCount: mod.cwrap('get_threads_count', 'number', []),
    registerTensor: mod.cwrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: mod.cwrap('dispose_data', null, ['number']),
    dispose: mod.cwrap('dispose', null, []),
  };
  return new wasm.BackendWasm(mod);
}, 2);
await tf.setBackend('wasm');
console.log('backend', tf.getBackend(), 'threads', wasm.getThreadsCount());
const a = tf.randomNormal([64, 32, 32, 64]); const w = tf.randomNormal([3,3,64,64]);
for (let i = 0; i < 3; i++) { const t0 = performance.now(); const y = tf.conv2d(a as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'); await y.data(); console.log('conv ms', performance.now()-t0); y.dispose(); }
console.log('done');
