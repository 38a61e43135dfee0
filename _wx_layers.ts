import * as tf from '@tensorflow/tfjs';
import { loadWasm } from './src/backend/wasm.ts';
const threads = Number(process.argv[2] ?? 2);
await loadWasm({ threads });
await tf.setBackend('wasm');
const N = 256;
const L: [string, number, number, number, number, number][] = [
  ['stem', 32, 3, 32, 3, 1], ['l1.conv', 32, 32, 32, 3, 1], ['l2.conv1', 32, 32, 64, 3, 2], ['l2.conv2', 16, 64, 64, 3, 1],
  ['l2.sc', 32, 32, 64, 1, 2], ['l3.conv1', 16, 64, 128, 3, 2], ['l3.conv2', 8, 128, 128, 3, 1], ['l3.sc', 16, 64, 128, 1, 2]];
for (const [name, H, ci, co, k, s] of L) {
  const x = tf.randomNormal([N, H, H, ci]) as tf.Tensor4D;
  const w = tf.randomNormal([k, k, ci, co]) as tf.Tensor4D;
  const y = tf.conv2d(x, w, s, 'same');
  const dy = tf.randomNormal(y.shape) as tf.Tensor4D;
  const at = { strides: [s, s], pad: 'same', dataFormat: 'NHWC' };
  const fns: Record<string, () => tf.Tensor> = {
    fwd: () => tf.conv2d(x, w, s, 'same'),
    dW: () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...at, filterShape: w.shape }) as tf.Tensor,
    dx: () => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...at, inputShape: x.shape }) as tf.Tensor,
  };
  const tot: Record<string, number> = {};
  for (let r = 0; r < 2; r++) for (const [kk, f] of Object.entries(fns)) { const t0 = performance.now(); const o = f(); o.dataSync(); o.dispose(); if (r > 0) tot[kk] = (tot[kk] ?? 0) + performance.now() - t0; }
  console.log(name.padEnd(9), Object.entries(tot).map(([kk, v]) => `${kk}=${v.toFixed(0)}`).join(' '));
  tf.dispose([x, w, y, dy]);
}
