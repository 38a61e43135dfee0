// The reference SimCLR training step (what bench/peer_torch.py runs in PyTorch):
// ResNet backbone, projection head Linear-BN-ReLU-Linear 128-128-128, NT-Xent
// T=0.5 over both views in one batch, SGD with momentum 0.9. Builds it on the
// active backend, with the trainer's own step runner and optimizer (what
// `selfsup pretrain` runs), and times it.
import * as tf from '@tensorflow/tfjs';
import { backboneConvs, buildBackbone, type BackboneConfig } from '../src/models/resnet.ts';
import { SimCLR } from '../src/methods/simclr.ts';
import { createOptimizer } from '../src/optim/index.ts';
import type { OptimConfig } from '../src/recipe/sections/optim.ts';
import { StepRunner } from '../src/train/step.ts';
import { Rng } from '../src/util/rng.ts';

export interface StepConfig {
  name: string;
  backbone: BackboneConfig;
  /** Images per step; the step sees 2 * batch views. */
  batch: number;
  size: number;
}

export const REFERENCE: StepConfig = {
  name: 'resnet 32/64/128',
  backbone: { arch: 'resnet', widths: [32, 64, 128], blocks: [1, 1, 1], inChannels: 3 },
  batch: 128,
  size: 32,
};

export const RESNET18: StepConfig = {
  name: 'resnet18 (cifar stem)',
  backbone: { arch: 'resnet18', widths: [64, 128, 256, 512], blocks: [2, 2, 2, 2], inChannels: 3 },
  batch: 32,
  size: 32,
};

const HEAD = { hidden: 128, out: 128 };

/** Multiply-adds x 2 of one forward pass over 2 * batch views (convs, linears, the similarity matmul). */
export function forwardFlops(cfg: StepConfig): number {
  const views = 2 * cfg.batch;
  const convs = backboneConvs(cfg.backbone, cfg.size);
  let f = convs.reduce((s, c) => s + 2 * views * c.outSize * c.outSize * c.kernel * c.kernel * c.inC * c.outC, 0);
  const c = convs[convs.length - 1].outC;
  f += 2 * views * (c * HEAD.hidden + HEAD.hidden * HEAD.out) + 2 * views * views * HEAD.out;
  return f;
}

/** Forward + backward is counted as 3 forward passes, the usual convention. */
export function stepFlops(cfg: StepConfig): number { return 3 * forwardFlops(cfg); }

export interface BuiltStep {
  /** Runs one training step and returns the loss. */
  run(): Promise<number>;
  dispose(): void;
}

/** torch.optim.SGD(lr=0.1, momentum=0.9), as the peer: no weight decay, no schedule. */
const SGD: OptimConfig = {
  name: 'sgd', lr: 0.1, lr_scaling: 'none', momentum: 0.9, weight_decay: 0, nesterov: false, exclude_bn_bias: false,
  trust_coefficient: 0.001, betas: [0.9, 0.999], eps: 1e-8, warmup_epochs: 0, schedule: 'constant', min_lr: 0, milestones: [], gamma: 0.1,
};

export function buildStep(cfg: StepConfig, seed = 0): BuiltStep {
  const rng = new Rng(seed);
  const backbone = buildBackbone(cfg.backbone, rng.fork('backbone'));
  const method = new SimCLR(backbone, { temperature: 0.5, headHidden: HEAD.hidden, headOut: HEAD.out, headBatchNorm: true }, rng.fork('head'));
  const shape: [number, number, number, number] = [cfg.batch, cfg.size, cfg.size, cfg.backbone.inChannels];
  const v1 = tf.randomNormal(shape, 0, 1, 'float32', rng.seed()) as tf.Tensor4D;
  const v2 = tf.randomNormal(shape, 0, 1, 'float32', rng.seed()) as tf.Tensor4D;
  const opt = createOptimizer(SGD, method.trainable());
  const runner = new StepRunner(method, opt, method.trainable());
  let step = 0;
  return {
    async run() {
      const r = await runner.run(v1, v2, { step: step++, totalSteps: Infinity, epoch: 0 }, SGD.lr);
      return r.loss;
    },
    dispose() {
      opt.dispose();
      method.dispose();
      v1.dispose();
      v2.dispose();
    },
  };
}

export interface StepTiming {
  steps: number;
  msPerStep: number;
  /** Process CPU seconds per step (user + system): less sensitive to other load than wall time. */
  cpuMsPerStep: number;
  imgPerSec: number;
  gflops: number;
  /** Kernels run and tensors allocated in one step (tf.profile), and tensors left behind by it. */
  kernelsPerStep: number;
  tensorsPerStep: number;
  leakedTensors: number;
  loss: number;
  /** Per-kernel milliseconds of the profiled step, largest first. */
  profile: { kernel: string; ms: number; calls: number }[];
}

function aggregate(kernels: Awaited<ReturnType<typeof tf.profile>>['kernels']): { kernel: string; ms: number; calls: number }[] {
  const by = new Map<string, { ms: number; calls: number }>();
  const backend = tf.getBackend();
  for (const k of kernels) {
    // Scopes such as customGrad's 'forward' also appear; their time is their kernels'.
    if (!tf.getKernel(k.name, backend)) continue;
    const e = by.get(k.name) ?? { ms: 0, calls: 0 };
    e.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    e.calls++;
    by.set(k.name, e);
  }
  return [...by.entries()].map(([kernel, e]) => ({ kernel, ...e })).sort((p, q) => q.ms - p.ms);
}

export interface EvalForwardTiming {
  batches: number;
  msPerBatch: number;
  cpuMsPerBatch: number;
  imgPerSec: number;
  /** Kernels run in one forward (tf.profile) and tensors left behind by it. */
  kernelsPerForward: number;
  leakedTensors: number;
}

/** Runs `fn` `n` times; the median wall and process-CPU (user + system) milliseconds of one run. */
async function medianRun(n: number, fn: () => unknown): Promise<{ wallMs: number; cpuMs: number }> {
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < n; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await fn();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  const med = (a: number[]) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];
  return { wallMs: med(wall), cpuMs: med(cpu) };
}

/**
 * The eval-mode backbone forward (what k-NN, the linear probe's features and
 * `embed` run): the step's backbone, same seed and batch, one image per view,
 * features read back each batch. Median wall time of `batches` after `warmup`.
 */
export async function timeEvalForward(cfg: StepConfig, opts: { batches: number; warmup: number }, seed = 0): Promise<EvalForwardTiming> {
  const backbone = buildBackbone(cfg.backbone, new Rng(seed).fork('backbone'));
  const x = tf.randomNormal([cfg.batch, cfg.size, cfg.size, cfg.backbone.inChannels], 0, 1, 'float32', new Rng(seed).fork('eval-x').seed());
  const forward = () => {
    const y = tf.tidy(() => backbone.apply(x, false));
    y.dataSync();
    y.dispose();
  };
  try {
    for (let i = 0; i < opts.warmup; i++) forward();
    const before = tf.memory().numTensors;
    const prof = await tf.profile(forward);
    const { wallMs: msPerBatch, cpuMs } = await medianRun(opts.batches, forward);
    return {
      batches: opts.batches, msPerBatch, cpuMsPerBatch: cpuMs, imgPerSec: cfg.batch / (msPerBatch / 1000),
      kernelsPerForward: prof.kernels.filter((k) => tf.getKernel(k.name, tf.getBackend())).length,
      leakedTensors: tf.memory().numTensors - before,
    };
  } finally {
    x.dispose();
    for (const v of [...backbone.params(), ...backbone.buffers()]) v.variable.dispose();
  }
}

/** Median wall time of `steps` steps after `warmup`, on the active backend. */
export async function timeStep(cfg: StepConfig, opts: { steps: number; warmup: number }): Promise<StepTiming> {
  const step = buildStep(cfg);
  try {
    let loss = NaN;
    for (let i = 0; i < opts.warmup; i++) loss = await step.run();
    const before = tf.memory().numTensors;
    const prof = await tf.profile(async () => { loss = await step.run(); });
    // The first step creates the optimizer's slots: only later steps can show a leak.
    const leakedTensors = opts.warmup > 0 ? tf.memory().numTensors - before : NaN;
    const { wallMs: msPerStep, cpuMs } = await medianRun(opts.steps, async () => { loss = await step.run(); });
    return {
      steps: opts.steps, msPerStep, cpuMsPerStep: cpuMs, imgPerSec: cfg.batch / (msPerStep / 1000),
      gflops: stepFlops(cfg) / (msPerStep / 1000) / 1e9, kernelsPerStep: prof.kernels.length,
      tensorsPerStep: prof.kernels.reduce((s, k) => s + k.outputShapes.length, 0), leakedTensors, loss,
      profile: aggregate(prof.kernels),
    };
  } finally {
    step.dispose();
  }
}
