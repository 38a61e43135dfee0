import * as tf from '@tensorflow/tfjs';
import { loadWasm } from './src/backend/wasm.ts';
await loadWasm({ threads: 2 });
await tf.setBackend('wasm');
const x = tf.randomNormal([256, 32, 32, 32]) as tf.Tensor4D;
const eye = tf.reshape(tf.eye(32), [1, 1, 32, 32]) as tf.Tensor4D;
const fns: Record<string, () => tf.Tensor> = {
  slice4: () => tf.slice(tf.reshape(x, [256 * 16, 2, 16, 64]), [0, 0, 0, 0], [256 * 16, 1, 16, 32]),
  slice4b: () => tf.slice(tf.reshape(x, [256 * 16, 2, 16 * 64]), [0, 0, 0], [256 * 16, 1, 16 * 64]),
  eyeconv: () => tf.conv2d(x, eye, 2, 'valid'),
  strided: () => tf.stridedSlice(x, [0, 0, 0, 0], [256, 32, 32, 32], [1, 2, 2, 1]),
};
const a = fns.slice4().reshape([-1]); const b = fns.eyeconv().reshape([-1]); const c = fns.strided().reshape([-1]);
console.log('eq', tf.max(tf.abs(tf.sub(a, c))).dataSync()[0], tf.max(tf.abs(tf.sub(b, c))).dataSync()[0]);
const tot: Record<string, number> = {};
for (let r = 0; r < 3; r++) for (const [kk, f] of Object.entries(fns)) { const t0 = performance.now(); const o = f(); o.dataSync(); o.dispose(); if (r > 0) tot[kk] = (tot[kk] ?? 0) + performance.now() - t0; }
console.log(Object.entries(tot).map(([kk, v]) => `${kk}=${(v/2).toFixed(0)}`).join(' '));
