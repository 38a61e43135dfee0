// A small SimCLR-shaped training step (ResNet with a stride-2 stage and a 1x1
// shortcut, BN, projection head, NT-Xent) on wasm against the same step on cpu:
// loss, every gradient and the batch-norm running statistics must agree, and
// repeated steps must not leak tensors. Also the closed-form batch-norm
// gradient of src/models/ops.ts on wasm against TF.js's own batchNorm gradient.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadWasm } from '../src/backend/wasm.ts';
import { ntXentLoss } from '../src/losses/ntxent.ts';
import { buildProjectionHead } from '../src/models/heads.ts';
import { allVariables, disposeModule, type Module } from '../src/models/module.ts';
import { BN_EPSILON, batchNormTrainOp } from '../src/models/ops.ts';
import { buildBackbone } from '../src/models/resnet.ts';
import { Rng } from '../src/util/rng.ts';
import { expectAllClose, randn, runOn, size } from './wasm-helpers.ts';

beforeAll(async () => {
  const r = await loadWasm({ threads: 1 });
  expect(r.ok, JSON.stringify(r)).toBe(true);
});

interface Model { backbone: Module; head: Module }

function buildModel(): Model {
  const rng = new Rng(11);
  const backbone = buildBackbone({ arch: 'resnet', widths: [4, 6], blocks: [1, 1], inChannels: 3 }, rng);
  const head = buildProjectionHead(6, 8, 5, rng);
  return { backbone, head };
}

function modelVars(m: Model) { return [...allVariables(m.backbone), ...allVariables(m.head)]; }
function trainable(m: Model) { return [...m.backbone.params(), ...m.head.params()]; }

function loss(m: Model, v1: tf.Tensor4D, v2: tf.Tensor4D): tf.Scalar {
  const n = v1.shape[0];
  const z = m.head.apply(m.backbone.apply(tf.concat([v1, v2], 0), true), true) as tf.Tensor2D;
  return ntXentLoss(z.slice([0, 0], [n, -1]), z.slice([n, 0], [n, -1]), 0.5);
}

interface StepResult { loss: number; grads: Map<string, Float32Array>; buffers: Map<string, Float32Array> }

async function stepOn(backend: string, weights: Map<string, Float32Array> | null, views: Float32Array[], shape: [number, number, number, number]) {
  await tf.setBackend(backend);
  const m = buildModel();
  if (weights) for (const v of modelVars(m)) v.variable.assign(tf.tensor(weights.get(v.name)!, v.variable.shape));
  const start = new Map<string, Float32Array>();
  for (const v of modelVars(m)) start.set(v.name, (await v.variable.data()) as Float32Array);
  const x1 = tf.tensor4d(views[0], shape), x2 = tf.tensor4d(views[1], shape);
  const params = trainable(m);
  const { value, grads } = tf.variableGrads(() => loss(m, x1, x2), params.map((p) => p.variable));
  const res: StepResult = { loss: (await value.data())[0], grads: new Map(), buffers: new Map() };
  for (const p of params) res.grads.set(p.name, (await grads[p.variable.name].data()) as Float32Array);
  for (const b of [...m.backbone.buffers(), ...m.head.buffers()]) res.buffers.set(b.name, (await b.variable.data()) as Float32Array);
  tf.dispose([value, x1, x2, ...Object.values(grads)]);
  disposeModule(m.backbone); disposeModule(m.head);
  return { res, start };
}

describe('a training step on wasm matches cpu', () => {
  it('loss, all gradients and BN running stats', async () => {
    const rng = new Rng('train-step');
    const shape: [number, number, number, number] = [3, 9, 9, 3];
    const views = [randn(rng, size(shape)), randn(rng, size(shape))];
    const cpu = await stepOn('cpu', null, views, shape);
    const wasm = await stepOn('wasm', cpu.start, views, shape);
    expect(Number.isFinite(cpu.res.loss)).toBe(true);
    expect(Math.abs(wasm.res.loss - cpu.res.loss)).toBeLessThanOrEqual(1e-4 * Math.abs(cpu.res.loss));
    expect([...wasm.res.grads.keys()]).toEqual([...cpu.res.grads.keys()]);
    expect(cpu.res.grads.size).toBeGreaterThan(10);
    // Gradients pass through BN and a softmax over a tiny batch; 1e-3 of each tensor's scale.
    for (const [name, g] of cpu.res.grads) expectAllClose(wasm.res.grads.get(name)!, g, 1e-3, 1e-6, name);
    for (const [name, b] of cpu.res.buffers) expectAllClose(wasm.res.buffers.get(name)!, b, 1e-4, 1e-6, name);
    // The stride-2 stage's shortcut conv really was differentiated (not a zero gradient).
    const sc = cpu.res.grads.get('backbone/layer2.0/shortcut/conv/kernel')!;
    expect(Math.max(...Array.from(sc, Math.abs))).toBeGreaterThan(1e-6);
  });

  it('repeated optimizer steps leak no tensors', async () => {
    await tf.setBackend('wasm');
    const m = buildModel();
    const rng = new Rng('leak');
    const shape: [number, number, number, number] = [2, 8, 8, 3];
    const x1 = tf.tensor4d(randn(rng, size(shape)), shape), x2 = tf.tensor4d(randn(rng, size(shape)), shape);
    const opt = tf.train.sgd(0.05);
    const vars = trainable(m).map((p) => p.variable);
    const step = () => { const l = opt.minimize(() => loss(m, x1, x2), true, vars)!; const v = l.dataSync()[0]; l.dispose(); return v; };
    const first = step();
    const n = tf.memory().numTensors;
    const backend = tf.backend() as tf.KernelBackend & { numDataIds(): number };
    const buffers = backend.numDataIds();
    let last = first;
    for (let i = 0; i < 3; i++) last = step();
    expect(tf.memory().numTensors).toBe(n);
    expect(backend.numDataIds()).toBe(buffers);
    expect(Number.isFinite(last)).toBe(true);
    expect(last).toBeLessThan(first); // SGD on a fixed batch goes downhill
    opt.dispose(); tf.dispose([x1, x2]);
    disposeModule(m.backbone); disposeModule(m.head);
  });
});

describe('closed-form batch-norm gradient (src/models/ops.ts) on wasm', () => {
  it('matches TF.js batchNorm + moments differentiated on cpu', async () => {
    const rng = new Rng('bn');
    const shape = [3, 4, 5, 6];
    const x = randn(rng, size(shape));
    const r = randn(rng, size(shape));
    const gamma = randn(rng, 6), beta = randn(rng, 6);
    // Reference: TF.js's own ops, differentiated by the tape (the slow Tile path).
    const ref = await runOn('cpu', () => tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const { mean, variance } = tf.moments(a, [0, 1, 2]);
      return tf.sum(tf.mul(tf.batchNorm(a, mean, variance, b, g, BN_EPSILON), tf.tensor(r, shape)));
    })([tf.tensor(x, shape), tf.tensor1d(gamma), tf.tensor1d(beta)]));
    const closed = (backend: string) => runOn(backend, () => tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const flat = tf.reshape(a, [-1, 6]);
      const y = batchNormTrainOp(flat, g, b, [0]);
      return tf.sum(tf.mul(tf.reshape(y, shape), tf.tensor(r, shape)));
    })([tf.tensor(x, shape), tf.tensor1d(gamma), tf.tensor1d(beta)]));
    const onWasm = await closed('wasm');
    const onCpu = await closed('cpu');
    for (let i = 0; i < 3; i++) {
      expectAllClose(onWasm[i], ref[i], 1e-4, 1e-6, `wasm vs TF.js reference, input ${i}`);
      expectAllClose(onWasm[i], onCpu[i], 1e-4, 1e-6, `wasm vs cpu, input ${i}`);
    }
  });
});
