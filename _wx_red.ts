import * as tf from '@tensorflow/tfjs';
import { loadWasm } from './src/backend/wasm.ts';
await loadWasm({ threads: 2 });
await tf.setBackend('wasm');
for (const [L, C] of [[262144, 32], [16384, 128]]) {
const x = tf.add(tf.randomNormal([L, C]), 3);
const fns: Record<string, () => tf.Tensor> = {
  mean0: () => tf.mean(x, 0),
  avgpool1: () => tf.avgPool(tf.reshape(x, [1, L, 1, C]) as tf.Tensor4D, [L, 1], 1, 'valid'),
  avgpool2: () => tf.avgPool(tf.reshape(x, [1, L / 256, 256, C]) as tf.Tensor4D, [L / 256, 256], 1, 'valid'),
  ones: () => tf.matMul(tf.fill([1, L], 1 / L), x),
};
const xd = x.dataSync(); const ref = new Float64Array(C);
for (let i = 0; i < L; i++) for (let c = 0; c < C; c++) ref[c] += xd[i * C + c] / L;
for (const [k, f] of Object.entries(fns)) { const o = f().dataSync(); let e = 0; for (let c = 0; c < C; c++) e = Math.max(e, Math.abs(o[c] - ref[c])); console.log(k, 'maxerr', e.toExponential(2)); }
const tot: Record<string, number> = {};
for (let r = 0; r < 4; r++) for (const [kk, f] of Object.entries(fns)) { const t0 = performance.now(); const o = f(); o.dataSync(); o.dispose(); if (r > 0) tot[kk] = (tot[kk] ?? 0) + performance.now() - t0; }
console.log(L, C, Object.entries(tot).map(([kk, v]) => `${kk}=${(v/3).toFixed(1)}`).join(' '));
}
