// Linear-probe speed: the full `selfsup eval linear` protocol (default
// eval.linear settings: 4 decays searched on a 10% validation split + refit,
// 100 epochs each, batch 256, momentum 0.9, cosine) on synthetic frozen
// features with class structure, batched engine ('tfjs') vs the float64 JS
// reference ('js'). The search fits the 4 decays as one stacked model on one
// shared minibatch order (src/eval/linear.ts). Times are wall clock and this
// process's CPU time: on a shared machine the load average (printed) inflates
// the first; the second is what the work costs.
// Run: npx tsx bench/linear.ts [--backend native] [--n 50000] [--dim 512] [--test 10000]
//      [--js-epochs 2]  (the reference is timed over this many epochs of one fit and
//      extrapolated: its cost per epoch is constant) [--full-js] (run the whole reference protocol)
//      [--short] (only the same-conditions short fit) [--threads N] (native/wasm threads; default all cores)
import * as tf from '@tensorflow/tfjs';
import os from 'node:os';
import { parseBackendName, useBackend } from '../src/backend/index.ts';
import { fitSoftmaxRegression, linearProbe, type ProbeData } from '../src/eval/linear.ts';
import type { ProbeEngineName } from '../src/eval/softmax-engine.ts';
import { Rng } from '../src/util/rng.ts';

const arg = (f: string, d: string) => { const i = process.argv.indexOf(f); return i >= 0 ? process.argv[i + 1] : d; };
const N = Number(arg('--n', '50000'));
const DIM = Number(arg('--dim', '512'));
const N_TEST = Number(arg('--test', '10000'));
const JS_EPOCHS = Number(arg('--js-epochs', '2'));
const CLASSES = 10;
const CONFIG = { epochs: 100, lr: 0.1, weight_decay: [0, 1e-5, 1e-4, 1e-3], batch_size: 256, momentum: 0.9, schedule: 'cosine' as const, val_fraction: 0.1 };

/** Class centres on a random direction each, isotropic noise of comparable size, a positive offset (features look post-ReLU-ish). */
function synthetic(rng: Rng, n: number, centres: Float32Array, role: ProbeData['role']): ProbeData {
  const features = new Float32Array(n * DIM);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const l = rng.int(CLASSES);
    labels[i] = l;
    for (let j = 0; j < DIM; j++) features[i * DIM + j] = 1 + 0.15 * centres[l * DIM + j] + rng.normal();
  }
  return { features, labels, dim: DIM, role };
}

const threads = process.argv.includes('--threads') ? Number(arg('--threads', '0')) : undefined;
const backend = await useBackend(parseBackendName(arg('--backend', 'auto')), { threads });
const rng = new Rng('bench-linear');
const centres = Float32Array.from({ length: CLASSES * DIM }, () => rng.normal());
const train = synthetic(rng, N, centres, 'train');
const test = synthetic(rng, N_TEST, centres, 'test');
console.log(`backend ${backend.chosen} (threads ${threads ?? 'default'}); ${N} x ${DIM} train, ${N_TEST} test, ${CLASSES} classes; loadavg ${os.loadavg().map((v) => v.toFixed(2)).join(' ')}; ${os.cpus().length} cpus`);

// A validation-sized monitor scored every epoch, as in the decay search.
const monitor: ProbeData = { features: test.features.subarray(0, Math.min(N_TEST, Math.round(N * CONFIG.val_fraction)) * DIM), labels: test.labels.subarray(0, Math.min(N_TEST, Math.round(N * CONFIG.val_fraction))), dim: DIM, role: 'val' };

async function timeEpochs(engine: ProbeEngineName, epochs: number): Promise<number> {
  const t0 = performance.now();
  await fitSoftmaxRegression(train, {
    numClasses: CLASSES, epochs, lr: CONFIG.lr, weightDecay: 1e-4, batchSize: CONFIG.batch_size, momentum: CONFIG.momentum,
    schedule: CONFIG.schedule, rng: new Rng(1), engine, monitor,
  });
  return (performance.now() - t0) / 1000;
}

// Same-conditions comparison: the same short fit on both engines, alternated twice (the machine is
// shared, so its load drifts); the faster of the two runs of each engine is kept.
const tensorsBefore = tf.memory().numTensors;
let jsShort = Infinity, tfShort = Infinity;
for (let rep = 0; rep < 2; rep++) {
  jsShort = Math.min(jsShort, await timeEpochs('js', JS_EPOCHS));
  tfShort = Math.min(tfShort, await timeEpochs('tfjs', JS_EPOCHS));
}
console.log(`${JS_EPOCHS} epochs of one fit on ${N} rows (each including the fit's standardization, ~0.5 s here): js ${jsShort.toFixed(2)} s, tfjs ${tfShort.toFixed(2)} s (x${(jsShort / tfShort).toFixed(1)})`);

// Epochs in the whole protocol: each decay on the 90% fit split, then the refit on everything.
const protocolEpochEquivalents = CONFIG.epochs * (CONFIG.weight_decay.length * (1 - CONFIG.val_fraction) + 1);
console.log(`js full protocol, extrapolated from ${JS_EPOCHS} epochs: ${(jsShort / JS_EPOCHS * protocolEpochEquivalents).toFixed(0)} s (an overestimate: the per-fit setup is counted per epoch; --full-js measures it)`);

async function protocol(engine: ProbeEngineName): Promise<void> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const r = await linearProbe(train, test, { ...CONFIG, numClasses: CLASSES, rng: new Rng('bench'), engine });
  const s = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(c0);
  console.log(`${engine} full protocol: ${s.toFixed(1)} s wall, ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s CPU (loadavg ${os.loadavg()[0].toFixed(2)}); chose wd=${r.weight_decay}; test top-1 ${(r.top1 * 100).toFixed(2)}% top-5 ${(r.top5 * 100).toFixed(2)}%; val top-1 per decay ${r.search.map((t) => (t.val_top1_final * 100).toFixed(2)).join(' / ')}`);
}
if (!process.argv.includes('--short')) await protocol('tfjs');
if (process.argv.includes('--full-js')) await protocol('js');
console.log(`tensors before ${tensorsBefore}, after ${tf.memory().numTensors}; loadavg ${os.loadavg().map((v) => v.toFixed(2)).join(' ')}`);
