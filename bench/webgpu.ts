// The reference SimCLR step (bench/step.ts's REFERENCE) timed on webgpu and on
// the CPU backends, for the webgpu backend's note. bench/step.ts reads each
// loss with dataSync, which webgpu cannot do in Node (its readSync needs
// OffscreenCanvas), so this loop reads it with await data(): that also waits
// for the GPU queue, so the wall time is the whole step's.
// Use: npx tsx bench/webgpu.ts [--backends webgpu,native] [--batch 128] [--steps 3] [--warmup 1] [--json]
import * as tf from '@tensorflow/tfjs';
import { useBackend, type BackendName } from '../src/backend/index.ts';
import { buildBackbone } from '../src/models/resnet.ts';
import { SimCLR } from '../src/methods/simclr.ts';
import { Rng } from '../src/util/rng.ts';
import { REFERENCE, stepFlops, type StepConfig } from './step.ts';

interface Row { backend: string; ok: boolean; detail: string; batch: number; msPerStep?: number; imgPerSec?: number; gflops?: number; loss?: number; leakedTensors?: number; gpuBytesGrowth?: number }

const gpuBytes = () => (tf.memory() as { numBytesInGPU?: number }).numBytesInGPU ?? 0;

async function timeBackend(backend: string, cfg: StepConfig, steps: number, warmup: number): Promise<Row> {
  let detail: string;
  try {
    const r = await useBackend(backend as BackendName);
    detail = r.probes[r.probes.length - 1].detail;
  } catch (e) {
    return { backend, ok: false, detail: (e as Error).message, batch: cfg.batch };
  }
  const rng = new Rng(0);
  const method = new SimCLR(buildBackbone(cfg.backbone, rng.fork('backbone')), { temperature: 0.5, headHidden: 128, headOut: 128, headBatchNorm: true }, rng.fork('head')); // head as bench/step.ts's HEAD
  const shape: [number, number, number, number] = [cfg.batch, cfg.size, cfg.size, cfg.backbone.inChannels];
  const v1 = tf.randomNormal(shape, 0, 1, 'float32', 1) as tf.Tensor4D;
  const v2 = tf.randomNormal(shape, 0, 1, 'float32', 2) as tf.Tensor4D;
  const vars = method.trainable().map((p) => p.variable);
  const opt = tf.train.momentum(0.1, 0.9);
  const step = async () => {
    const l = opt.minimize(() => method.loss(v1, v2), true, vars)!;
    const v = (await l.data())[0];
    l.dispose();
    return v;
  };
  try {
    let loss = NaN;
    for (let i = 0; i < warmup; i++) loss = await step();
    const t0 = tf.memory().numTensors, b0 = gpuBytes();
    const ms: number[] = [];
    for (let i = 0; i < steps; i++) {
      const s = performance.now();
      loss = await step();
      ms.push(performance.now() - s);
    }
    const med = [...ms].sort((p, q) => p - q)[Math.floor(ms.length / 2)];
    return {
      backend, ok: true, detail, batch: cfg.batch, msPerStep: med, imgPerSec: cfg.batch / (med / 1000),
      gflops: stepFlops(cfg) / (med / 1000) / 1e9, loss, leakedTensors: tf.memory().numTensors - t0, gpuBytesGrowth: gpuBytes() - b0,
    };
  } finally {
    opt.dispose();
    method.dispose();
    tf.dispose([v1, v2]);
  }
}

function arg(flag: string): string | undefined {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const backends = (arg('--backends') ?? 'webgpu,native').split(',').map((s) => s.trim());
const cfg: StepConfig = { ...REFERENCE, batch: Number(arg('--batch') ?? REFERENCE.batch) };
const steps = Number(arg('--steps') ?? 3), warmup = Number(arg('--warmup') ?? 1);
const rows: Row[] = [];
for (const b of backends) {
  process.stderr.write(`bench/webgpu: ${cfg.name} ${cfg.size}x${cfg.size} batch ${cfg.batch} on ${b}...\n`);
  rows.push(await timeBackend(b, cfg, steps, warmup));
}
if (process.argv.includes('--json')) console.log(JSON.stringify({ workload: cfg.name, steps, warmup, rows }, null, 2));
else for (const r of rows) console.log(r.ok
  ? `${r.backend.padEnd(8)} batch ${r.batch}: ${r.imgPerSec!.toFixed(1)} img/s (${r.msPerStep!.toFixed(0)} ms/step, ${r.gflops!.toFixed(1)} GFLOP/s), loss ${r.loss!.toFixed(4)}, leaked tensors ${r.leakedTensors}, GPU bytes growth ${r.gpuBytesGrowth} — ${r.detail}`
  : `${r.backend.padEnd(8)} unavailable: ${r.detail}`);
