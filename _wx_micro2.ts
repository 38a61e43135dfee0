import * as tf from '@tensorflow/tfjs';
import { loadWasm } from './src/backend/wasm.ts';
import { conv2dBackpropFilter } from './src/backend/wasm-conv-grad.ts';
await loadWasm({ threads: 2 });
await tf.setBackend('wasm');
const N = 256;
function tapsA(x: tf.Tensor4D, dy: tf.Tensor4D) {
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape; const co = dy.shape[3]; const rows = n * h * w;
    const xp = tf.pad(x, [[0,0],[1,1],[1,1],[0,0]]);
    const dyT = tf.transpose(tf.reshape(dy, [rows, co]));
    const taps = [];
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) taps.push(tf.matMul(dyT, tf.reshape(tf.slice(xp, [0, i, j, 0], [n, h, w, c]), [rows, c])));
    return tf.transpose(tf.reshape(tf.stack(taps), [3, 3, co, c]), [0, 1, 3, 2]);
  });
}
function tapsB(x: tf.Tensor4D, dy: tf.Tensor4D) {
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape; const co = dy.shape[3]; const rows = n * h * w;
    const xp = tf.pad(x, [[0,0],[1,1],[1,1],[0,0]]);
    const dy2 = tf.reshape(dy, [rows, co]);
    const taps = [];
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) taps.push(tf.matMul(tf.transpose(tf.reshape(tf.slice(xp, [0, i, j, 0], [n, h, w, c]), [rows, c])), dy2));
    return tf.reshape(tf.stack(taps), [3, 3, c, co]);
  });
}
const g = { strides: [1, 1] as [number, number], pad: 'same' as const, dataFormat: 'NHWC' as const };
for (const [H, C] of [[32, 32], [8, 128]] as const) {
  const x = tf.randomNormal([N, H, H, C]) as tf.Tensor4D;
  const dy = tf.randomNormal([N, H, H, C]) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, C, C]) as tf.Tensor4D;
  const fns: Record<string, () => tf.Tensor> = {
    fwd: () => tf.conv2d(x, w, 1, 'same'),
    convForm: () => conv2dBackpropFilter(x, dy, [3, 3, C, C], g),
    tapsA: () => tapsA(x, dy),
    tapsB: () => tapsB(x, dy),
  };
  const a = fns.convForm(), b = fns.tapsA(), c = fns.tapsB();
  console.log('maxdiff', tf.max(tf.abs(tf.sub(a, b))).dataSync()[0], tf.max(tf.abs(tf.sub(a, c))).dataSync()[0], tf.max(tf.abs(a)).dataSync()[0]);
  const tot: Record<string, number> = {};
  for (let r = 0; r < 4; r++) for (const [k, f] of Object.entries(fns)) { const t0 = performance.now(); const y = f(); y.dataSync(); y.dispose(); tot[k] = (tot[k] ?? 0) + performance.now() - t0; }
  console.log(`H=${H} C=${C}`, Object.entries(tot).map(([k, v]) => `${k}=${(v / 4).toFixed(0)}ms`).join(' '));
}
