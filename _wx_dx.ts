import * as tf from '@tensorflow/tfjs';
import { loadWasm } from './src/backend/wasm.ts';
await loadWasm({ threads: 2 });
await tf.setBackend('wasm');
for (const [H, ci, co, k] of [[32, 32, 64, 1], [32, 32, 64, 3]]) {
const w = tf.randomNormal([k, k, ci, co]) as tf.Tensor4D;
const dy = tf.randomNormal([256, H / 2, H / 2, co]) as tf.Tensor4D;
const at = { strides: [2, 2], pad: 'same', dataFormat: 'NHWC' };
const f = () => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...at, inputShape: [256, H, H, ci] }) as tf.Tensor;
f().dispose();
const p = await tf.profile(() => { const o = f(); o.dataSync(); o.dispose(); });
const agg: Record<string, number> = {};
for (const kk of p.kernels) agg[kk.name] = (agg[kk.name] ?? 0) + (kk.kernelTimeMs as number);
console.log(k, Object.entries(agg).sort((a, b) => b[1] - a[1]).map(([kk, t]) => `${kk}:${t.toFixed(0)}`).join(' '));
}
