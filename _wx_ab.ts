// A/B on the reference step in one process: 'all' = every shim/replacement,
// 'minimal' = stock wasm + only the missing Conv2DBackpropFilter/UnsortedSegmentSum.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { loadWasm } from './src/backend/wasm.ts';
import { buildBackbone } from './src/models/resnet.ts';
import { SimCLR } from './src/methods/simclr.ts';
import { Rng } from './src/util/rng.ts';
const threads = Number(process.argv[2] ?? 2);
const rounds = Number(process.argv[3] ?? 3);
const stock = Object.fromEntries(['Conv2DBackpropInput', 'Sum', 'Mean', 'BatchMatMul'].map((k) => [k, tf.getKernel(k, 'wasm')]));
const r = await loadWasm({ threads });
console.log(JSON.stringify(r));
await tf.setBackend('wasm');
const ours = Object.fromEntries(Object.keys(stock).map((k) => [k, tf.getKernel(k, 'wasm')]));
const use = (set: Record<string, tf.KernelConfig>) => { for (const [k, c] of Object.entries(set)) { tf.unregisterKernel(k, 'wasm'); tf.registerKernel(c); } };
const rng = new Rng(1);
const bb = buildBackbone({ arch: 'resnet', widths: [32, 64, 128], blocks: [1, 1, 1], inChannels: 3 }, rng);
const m = new SimCLR(bb, { temperature: 0.5, headHidden: 128, headOut: 128, headBatchNorm: true }, rng);
const vars = m.trainable().map((p) => p.variable);
const B = 128;
const v1 = tf.randomNormal([B, 32, 32, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
const v2 = tf.randomNormal([B, 32, 32, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
const opt = tf.train.sgd(0.01);
const step = () => { const t0 = performance.now(); const l = opt.minimize(() => m.loss(v1, v2), true, vars)!; const v = l.dataSync()[0]; l.dispose(); return { ms: performance.now() - t0, loss: v }; };
step(); use(stock); step(); use(ours);
const n0 = tf.memory().numTensors;
const t: Record<string, number[]> = { all: [], minimal: [] };
for (let i = 0; i < rounds; i++) {
  for (const [name, set] of [['all', ours], ['minimal', stock]] as const) { use(set); const s = step(); t[name].push(s.ms); console.log(name, s.ms.toFixed(0), 'ms loss', s.loss.toFixed(4)); }
}
use(ours);
const avg = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
console.log(`threads=${threads} batch=${B}: all ${avg(t.all).toFixed(0)} ms/step = ${(B / avg(t.all) * 1000).toFixed(1)} img/s; minimal ${avg(t.minimal).toFixed(0)} ms/step = ${(B / avg(t.minimal) * 1000).toFixed(1)} img/s; speedup x${(avg(t.minimal) / avg(t.all)).toFixed(2)}; tensors leaked ${tf.memory().numTensors - n0}`);
