import * as tf from '@tensorflow/tfjs';
import { loadWasm } from './src/backend/wasm.ts';
await loadWasm({ threads: 2 });
await tf.setBackend('wasm');
const N = 256;
for (const [H, C] of [[32, 32], [8, 128]]) {
const x = tf.randomNormal([N, H, H, C]) as tf.Tensor4D;
const dy = tf.randomNormal([N, H, H, C]) as tf.Tensor4D;
const xp = tf.pad(x, [[0,0],[1,1],[1,1],[0,0]]) as tf.Tensor4D;
const xT = tf.transpose(xp, [3, 1, 2, 0]) as tf.Tensor4D;
const dyT = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D;
const fns: Record<string, () => tf.Tensor> = {
  pad: () => tf.pad(x, [[0,0],[1,1],[1,1],[0,0]]),
  trX: () => tf.transpose(xp, [3, 1, 2, 0]),
  trDy: () => tf.transpose(dy, [1, 2, 0, 3]),
  conv: () => tf.conv2d(xT, dyT, 1, 'valid'),
  copy: () => tf.add(x, 1),
};
const tot: Record<string, number> = {};
for (let r = 0; r < 3; r++) for (const [kk, f] of Object.entries(fns)) { const t0 = performance.now(); const o = f(); o.dataSync(); o.dispose(); if (r > 0) tot[kk] = (tot[kk] ?? 0) + performance.now() - t0; }
console.log(H, C, Object.entries(tot).map(([kk, v]) => `${kk}=${(v/2).toFixed(0)}`).join(' '));
}
