import * as tf from '@tensorflow/tfjs';
import { loadWasm } from './src/backend/wasm.ts';
await loadWasm({ threads: 2 });
await tf.setBackend('wasm');
const x = tf.randomNormal([256, 32, 32, 32]);
const dy = tf.randomNormal([256 * 16 * 16, 64]);
const xs = tf.randomNormal([256 * 16 * 16, 32]);
const xsT = tf.transpose(xs);
const fns: Record<string, () => tf.Tensor> = {
  slice6: () => tf.reshape(tf.slice(tf.reshape(x, [256, 16, 2, 16, 2, 32]), [0, 0, 0, 0, 0, 0], [256, 16, 1, 16, 1, 32]), [-1, 32]),
  strided: () => tf.stridedSlice(x, [0, 0, 0, 0], [256, 32, 32, 32], [1, 2, 2, 1]),
  transpose: () => tf.transpose(xs),
  matmul: () => tf.matMul(xsT, dy),
  matmulTA: () => tf.matMul(xs, dy, true, false),
  matmulDyT: () => tf.matMul(tf.transpose(dy), xs),
};
const tot: Record<string, number> = {};
for (let r = 0; r < 3; r++) for (const [kk, f] of Object.entries(fns)) { const t0 = performance.now(); const o = f(); o.dataSync(); o.dispose(); if (r > 0) tot[kk] = (tot[kk] ?? 0) + performance.now() - t0; }
console.log(Object.entries(tot).map(([kk, v]) => `${kk}=${(v/2).toFixed(0)}`).join(' '));
