// Augmentation throughput: images/s of TwoViewAugmenter.views() (one image in,
// two views out) at batch 128, per preset and backend, against the reference
// training step (bench/step.ts) timed in the same run on the fastest backend,
// so the "augmentation never starves training" margin is a same-run ratio.
// Run: npx tsx bench/augment.ts [--json] [--backends native,wasm,cpu]  (also part of `npm run bench`)
import * as tf from '@tensorflow/tfjs';
import { fileURLToPath } from 'node:url';
import { TwoViewAugmenter, resolveAugment, type AugmentPreset, type ImageBatchLike } from '../augment/index.ts';
import { useBackend, type BackendName } from '../src/backend/index.ts';
import { Rng } from '../src/util/rng.ts';
import { REFERENCE, timeStep } from './step.ts';

interface Workload { name: string; preset: AugmentPreset; size: number; channels: 1 | 3 }
interface Timing { imgPerSec: number; msPerBatch: number; cpuMsPerBatch: number; cpuImgPerSec: number }

const BATCH = 128;
const WORKLOADS: Workload[] = [
  { name: 'simclr 32x32x3', preset: 'simclr', size: 32, channels: 3 },
  { name: 'mocov2 32x32x3', preset: 'mocov2', size: 32, channels: 3 },
  { name: 'mocov3 32x32x3', preset: 'mocov3', size: 32, channels: 3 },
  { name: 'digits 28x28x1', preset: 'digits', size: 28, channels: 1 },
];

function syntheticBatch(size: number, channels: number): ImageBatchLike {
  const rng = new Rng('bench-augment');
  const data = new Uint8Array(BATCH * size * size * channels);
  for (let i = 0; i < data.length; i++) data[i] = rng.int(256);
  return { data, n: BATCH, height: size, width: size, channels };
}

/** Median wall and cpu time of views() over `reps` batches (after one warm-up). */
function timeViews(w: Workload, reps: number): Timing {
  const aug = new TwoViewAugmenter(resolveAugment({ preset: w.preset }), { outSize: w.size, channels: w.channels });
  const batch = syntheticBatch(w.size, w.channels);
  const rng = new Rng(0);
  const wall: number[] = [], cpu: number[] = [];
  for (let r = -1; r < reps; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const { view1, view2 } = aug.views(batch, rng);
    view1.dataSync(); // make sure the work is done on asynchronous backends
    view2.dataSync();
    const ms = performance.now() - t0;
    const c = process.cpuUsage(c0);
    tf.dispose([view1, view2]);
    if (r >= 0) { wall.push(ms); cpu.push((c.user + c.system) / 1000); }
  }
  const med = (a: number[]) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];
  const msPerBatch = med(wall), cpuMsPerBatch = med(cpu);
  return { imgPerSec: Math.round(BATCH / (msPerBatch / 1000)), msPerBatch: round(msPerBatch), cpuMsPerBatch: round(cpuMsPerBatch), cpuImgPerSec: Math.round(BATCH / (cpuMsPerBatch / 1000)) };
}

const round = (v: number) => Math.round(v * 10) / 10;

export async function run(opts: { json: boolean; backends?: string[] }): Promise<Record<string, unknown>> {
  const say = (m: string) => { if (!opts.json) console.log(m); };
  const previous = tf.getBackend();
  const rows: Record<string, unknown>[] = [];
  let fastest: string | null = null;
  for (const b of opts.backends ?? ['native', 'wasm', 'cpu']) {
    try { await useBackend(b as BackendName); } catch (e) {
      rows.push({ backend: b, ok: false, reason: (e as Error).message.split('\n')[0] });
      continue;
    }
    fastest ??= b;
    const reps = b === 'cpu' ? 2 : 5;
    for (const w of b === 'cpu' ? WORKLOADS.filter((x) => x.preset === 'simclr' || x.preset === 'digits') : WORKLOADS) {
      const t = timeViews(w, reps);
      rows.push({ backend: b, workload: w.name, batch: BATCH, ok: true, ...t });
      say(`augment: ${w.name} on ${b}: ${t.imgPerSec} img/s (${t.msPerBatch} ms/batch, ${t.cpuMsPerBatch} cpu ms)`);
    }
  }
  // The consumer: the reference SimCLR training step on the fastest backend, same run.
  let training: Record<string, unknown> | undefined;
  let ratio: number | undefined;
  if (fastest && fastest !== 'cpu') {
    await useBackend(fastest as BackendName);
    const t = await timeStep(REFERENCE, { steps: 3, warmup: 1 });
    training = { backend: fastest, workload: `${REFERENCE.name} ${REFERENCE.size}x${REFERENCE.size}`, batch: REFERENCE.batch, imgPerSec: round(t.imgPerSec), msPerStep: round(t.msPerStep) };
    const simclr = rows.find((r) => r.backend === fastest && r.workload === 'simclr 32x32x3') as Timing | undefined;
    if (simclr) ratio = round(simclr.imgPerSec / t.imgPerSec);
    say(`augment: training step on ${fastest}: ${training.imgPerSec} img/s; simclr augmentation / training = ${ratio}x (target >= 3x)`);
  }
  try { await tf.setBackend(previous); } catch { /* the previous backend may be gone; leave the current one */ }
  return { rows, training, ratioSimclrToTraining: ratio, meetsTarget: ratio !== undefined ? ratio >= 3 : undefined };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const argv = process.argv.slice(2);
  const i = argv.indexOf('--backends');
  const res = await run({ json: argv.includes('--json'), backends: i >= 0 ? argv[i + 1].split(',') : undefined });
  if (argv.includes('--json')) console.log(JSON.stringify(res));
}
