// Long-run soak: `npx tsx bench/soak.ts [--steps 10000] [--backend native] [--method simclr]`.
// Trains a tiny model through the real trainer (data, views, step, logging,
// checkpoints) for many steps and samples resident memory and the live tensor
// count every 2 s; prints the samples and the drift between the first and last
// quarter of the run. Flat is the goal: a leak of one tensor or a few KB per step
// shows up as a steady climb over 10,000 steps.
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseBackendName, useBackend } from '../src/backend/index.ts';
import { loadRecipe } from '../src/recipe/index.ts';
import { pretrain } from '../src/train/trainer.ts';

tf.env().set('PROD', true);
const arg = (f: string, d: string) => { const i = process.argv.indexOf(f); return i >= 0 ? process.argv[i + 1] : d; };
const steps = Number(arg('--steps', '10000'));
const method = arg('--method', 'simclr');
const report = await useBackend(parseBackendName(arg('--backend', 'auto')));
const recipe = loadRecipe(`recipes/mnist-${method}.yaml`, [
  'data.image_size=12', 'data.limit_train=640', 'data.limit_test=64', 'model.widths=[4,8]', 'model.blocks=[1,1]',
  'model.head_hidden=16', 'model.head_out=8', 'train.batch_size=32', 'train.epochs=100000', `train.max_steps=${steps}`,
  'train.checkpoint_every=20', 'eval.every=0', 'log.every=50', 'log.tensorboard=true',
  ...(method === 'simclr' ? [] : ['data.m_per_class=8']),
]);
const dir = mkdtempSync(join(tmpdir(), 'selfsup-soak-'));
const samples: { t: number; rssMiB: number; tensors: number }[] = [];
const t0 = Date.now();
const sample = () => samples.push({ t: (Date.now() - t0) / 1000, rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20), tensors: tf.memory().numTensors });
const timer = setInterval(sample, 2000);
try {
  const res = await pretrain({ recipe, runDir: join(dir, 'run'), resume: false, backend: report.chosen, quiet: true, exportBackbone: false });
  sample();
  const q = Math.max(1, Math.floor(samples.length / 4));
  const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
  const first = samples.slice(0, q);
  const last = samples.slice(-q);
  console.log(JSON.stringify({
    backend: report.chosen, method, steps: res.steps, seconds: res.seconds, images_per_sec: res.imagesPerSecond,
    rss_mib_first_quarter: mean(first.map((s) => s.rssMiB)), rss_mib_last_quarter: mean(last.map((s) => s.rssMiB)),
    rss_mib_max: Math.max(...samples.map((s) => s.rssMiB)),
    tensors_first: first[0]?.tensors, tensors_last: samples.at(-1)?.tensors, tensors_max: Math.max(...samples.map((s) => s.tensors)),
    samples: samples.length,
  }));
  console.log(samples.map((s) => `${s.t.toFixed(0)}s ${s.rssMiB}MiB ${s.tensors}t`).join('  '));
} finally {
  clearInterval(timer);
  rmSync(dir, { recursive: true, force: true });
}
