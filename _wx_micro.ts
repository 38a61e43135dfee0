import * as tf from '@tensorflow/tfjs';
import { loadWasm } from './src/backend/wasm.ts';
import { conv2dBackpropFilter, conv2dBackpropInput } from './src/backend/wasm-conv-grad.ts';
await loadWasm({ threads: Number(process.argv[2] ?? 2) });
await tf.setBackend('wasm');
function time(label: string, f: () => tf.Tensor, reps = 3) {
  f().dispose();
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) { const y = f(); y.dataSync(); y.dispose(); }
  console.log(label, ((performance.now() - t0) / reps).toFixed(1), 'ms');
}
const N = 256;
for (const [H, C, s] of [[32, 32, 1], [16, 64, 1], [8, 128, 1]] as const) {
  const x = tf.randomNormal([N, H, H, C]) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, C, C]) as tf.Tensor4D;
  const dy = tf.randomNormal([N, H, H, C]) as tf.Tensor4D;
  const g = { strides: [1, 1] as [number, number], pad: 'same' as const, dataFormat: 'NHWC' as const };
  console.log(`--- H=${H} C=${C}`);
  time('fwd conv', () => tf.conv2d(x, w, 1, 'same'));
  time('dW conv-form', () => conv2dBackpropFilter(x, dy, [3, 3, C, C], g));
  time('dx conv-form', () => conv2dBackpropInput(dy, w, x.shape, g));
  time('transpose x', () => tf.transpose(x, [3, 1, 2, 0]));
  const rows = N * H * H;
  const a = tf.randomNormal([C, rows]); const b = tf.randomNormal([rows, C]);
  time('matmul [C,rows]x[rows,C]', () => tf.matMul(a, b));
  const a9 = tf.randomNormal([rows, 9 * C]);
  time('matmul [rows,9C]^T via transpose', () => tf.matMul(tf.transpose(a9), b));
  time('slice tap', () => tf.slice(tf.pad(x, [[0,0],[1,1],[1,1],[0,0]]), [0, 1, 1, 0], [N, H, H, C]));
  time('mean axis0 [rows,C]', () => tf.mean(tf.reshape(x, [rows, C]), 0));
  time('ones matmul [1,rows]x[rows,C]', () => tf.matMul(tf.ones([1, rows]), tf.reshape(x, [rows, C])));
}
