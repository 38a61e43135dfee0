// Metric-learning steps vs a SimCLR step on the same model, batch and backend:
// `npx tsx bench/metric.ts [--backend native] [--batch 256] [--rounds 5]`.
// The model is the MNIST recipes' (ResNet 16/32/64 on 28x28x1, head 128-64);
// labels are m-per-class batches (4 classes x batch/4 images). Methods are timed
// in interleaved rounds (each round runs every method once, several steps) so
// load from other processes hits all of them alike; the ratio to SimCLR is the result.
import * as tf from '@tensorflow/tfjs';
import { parseBackendName, useBackend } from '../src/backend/index.ts';
import { buildMethod } from '../src/methods/index.ts';
import { createOptimizer } from '../src/optim/index.ts';
import { loadRecipe } from '../src/recipe/index.ts';
import { StepRunner } from '../src/train/step.ts';
import { Rng } from '../src/util/rng.ts';

tf.env().set('PROD', true);
const arg = (f: string, d: string) => { const i = process.argv.indexOf(f); return i >= 0 ? process.argv[i + 1] : d; };
const backend = arg('--backend', 'auto');
const batch = Number(arg('--batch', '256'));
const rounds = Number(arg('--rounds', '5'));
const stepsPerRound = Number(arg('--steps', '3'));

const report = await useBackend(parseBackendName(backend));
const variants: [string, string[]][] = [
  ['simclr', ['recipes/mnist-simclr.yaml']],
  ['supcon', ['recipes/mnist-supcon.yaml']],
  ['triplet (semi-hard)', ['recipes/mnist-triplet.yaml']],
  ['triplet (batch-hard)', ['recipes/mnist-triplet.yaml', 'method.miner=batch_hard']],
  ['contrastive (all pairs)', ['recipes/mnist-contrastive.yaml']],
  ['multisimilarity (+miner)', ['recipes/mnist-multisimilarity.yaml']],
];
const rng = new Rng('bench-metric');
const shape: [number, number, number, number] = [batch, 28, 28, 1];
const v1 = tf.randomNormal(shape, 0, 1, 'float32', rng.seed()) as tf.Tensor4D;
const v2 = tf.randomNormal(shape, 0, 1, 'float32', rng.seed()) as tf.Tensor4D;
const labels = Int32Array.from({ length: batch }, (_, i) => i % 4);

const built = await Promise.all(variants.map(async ([name, [file, ...sets]]) => {
  const recipe = loadRecipe(file, [...sets, `train.batch_size=${batch}`]);
  const method = await buildMethod(recipe);
  const optimizer = createOptimizer(recipe.optim, method.trainable());
  return { name, method, optimizer, runner: new StepRunner(method, optimizer, method.trainable()), ms: [] as number[] };
}));
let step = 0;
const once = (b: (typeof built)[number]) => b.runner.run(v1, v2, { step: step++, totalSteps: 1e6, epoch: 0, labels }, 0.01);
for (const b of built) await once(b); // warm-up (slots, kernels, primitives)
for (let r = 0; r < rounds; r++) {
  for (const b of built) {
    const t0 = performance.now();
    for (let s = 0; s < stepsPerRound; s++) await once(b);
    b.ms.push((performance.now() - t0) / stepsPerRound);
  }
}
const med = (a: number[]) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];
const base = med(built[0].ms);
console.log(`backend ${report.chosen}, batch ${batch} images (${2 * batch} views), 28x28x1, ResNet 16/32/64, ${rounds} rounds x ${stepsPerRound} steps, median ms/step`);
for (const b of built) console.log(`${b.name.padEnd(26)} ${med(b.ms).toFixed(1).padStart(8)} ms/step  ${(med(b.ms) / base).toFixed(2)}x simclr`);
for (const b of built) { b.method.dispose(); b.optimizer.dispose(); }
tf.dispose([v1, v2]);
