import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { createOptimizer } from './src/optim/index.ts';
const backend = process.argv[2] ?? 'cpu';
await tf.setBackend(backend); await tf.ready();
// ResNet-18-like: conv kernels 3x3 in widths 64..512, plus bn params; ~11M params total.
const shapes: number[][] = [];
const widths = [64, 128, 256, 512];
shapes.push([3, 3, 3, 64]);
let cin = 64;
for (const w of widths) for (let b = 0; b < 2; b++) { shapes.push([3, 3, cin, w], [w], [w], [3, 3, w, w], [w], [w]); cin = w; }
const params = shapes.map((s, i) => ({ name: `p${i}`, kind: (s.length === 1 ? 'bn' : 'weight') as 'bn' | 'weight', variable: tf.variable(tf.randomNormal(s, 0, 0.05, 'float32', 1)) }));
const total = params.reduce((a, p) => a + p.variable.size, 0);
const grads = new Map(params.map((p) => [p.name, tf.randomNormal(p.variable.shape, 0, 0.01, 'float32', 2)]));
const base = { lr: 0.1, lr_scaling: 'none', momentum: 0.9, weight_decay: 5e-4, nesterov: false, trust_coefficient: 0.001, betas: [0.9, 0.999], eps: 1e-8, warmup_epochs: 0, schedule: 'cosine', min_lr: 0, milestones: [], gamma: 0.1 } as const;
// Reference: the SGD update as one plain JS loop per tensor over Float32Arrays.
const ws = params.map((p) => Float32Array.from(p.variable.dataSync()));
const gs = params.map((p) => Float32Array.from(grads.get(p.name)!.dataSync()));
const vs = ws.map((w) => new Float32Array(w.length));
const jsSgd = () => { for (let k = 0; k < ws.length; k++) { const w = ws[k], g = gs[k], v = vs[k]; for (let i = 0; i < w.length; i++) { const d = g[i] + 5e-4 * w[i]; v[i] = 0.9 * v[i] + d; w[i] -= 0.1 * v[i]; } } };
const time = (f: () => void, n = 3) => { f(); const t0 = performance.now(); for (let i = 0; i < n; i++) f(); return (performance.now() - t0) / n; };
const ref = time(jsSgd);
const out: string[] = [`backend=${backend} params=${total} tensors=${params.length} js-loop-sgd=${ref.toFixed(1)}ms`];
for (const math of ['tensor', 'host'] as const) for (const name of ['sgd', 'lars', 'adamw'] as const) {
  const opt = createOptimizer({ ...base, name, betas: [0.9, 0.999] }, params, { math });
  const ms = time(() => { opt.step(grads, 0.1); params[0].variable.dataSync(); });
  out.push(`${math}:${name}=${ms.toFixed(1)}ms (x${(ms / ref).toFixed(2)})`);
  opt.dispose();
}
console.log(out.join(' '));
