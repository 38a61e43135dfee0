import { createRequire } from 'node:module';
import path from 'node:path';
import fs from 'node:fs';
import os from 'node:os';
const require = createRequire(import.meta.url);
const pkgDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
const factory = require(path.join(pkgDir, 'wasm-out/tfjs-backend-wasm-threaded-simd.js'));
const workerFile = path.join(os.tmpdir(), 'selfsup-wasm-worker.cjs');
const mainJs = path.join(pkgDir, 'wasm-out/tfjs-backend-wasm-threaded-simd.js');
const n = Number(process.argv[2]);
const wasmFile = path.join(pkgDir, 'dist/tfjs-backend-wasm-threaded-simd.wasm');
const mod = await factory({
  locateFile: (p: string, prefix: string) => p.endsWith('.worker.js') ? workerFile : p.endsWith('.wasm') ? wasmFile : prefix + p,
  mainScriptUrlOrBlob: mainJs,
  instantiateWasm: (info: any, receive: any) => {
    info.env.emscripten_num_logical_cores = () => 2 * n;
    WebAssembly.instantiate(fs.readFileSync(wasmFile), info).then(r => receive(r.instance, r.module));
    return {};
  },
});
console.log('workers', mod.PThread.unusedWorkers.length, mod.PThread.runningWorkers.length);
mod.cwrap('init_with_threads_count', null, ['number'])(n);
console.log('threads', mod.cwrap('get_threads_count', 'number', [])(), 'running', mod.PThread.runningWorkers.length);
process.exit(0);
