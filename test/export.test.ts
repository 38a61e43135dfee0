// Export round trips: the backbone written as a TF.js Layers model is loaded in
// a separate Node process with nothing but @tensorflow/tfjs (no selfsup code)
// and must reproduce the backbone's eval-mode embeddings; embeddings files are
// read back byte by byte.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { Backbone, NamedVariable } from '../src/models/module.ts';
import { buildBackbone } from '../src/models/resnet.ts';
import { MemoryDataset } from '../src/data/memory.ts';
import { Rng } from '../src/util/rng.ts';
import { isUserError } from '../src/util/errors.ts';
import { loadRecipe } from '../src/recipe/index.ts';
import { backboneFromRecipe } from '../src/methods/index.ts';
import { saveCheckpoint } from '../src/train/checkpoint.ts';
import { buildAugmenter } from '../src/train/augmenter.ts';
import { DEFAULT_RECIPE } from '../src/cli/common.ts';
import { exportCommand } from '../src/cli/export.ts';
import { exportBackbone, describeBackbone, resnetGraph, MODEL_JSON, WEIGHTS_FILE, type ExportGraph } from '../src/export/backbone.ts';
import { exportEmbeddings, readEmbeddings } from '../src/export/embeddings.ts';

/** conv(3x3, stride 2, no bias) -> batch norm (running stats in eval) -> relu -> global average pool, in plain tfjs. */
class TinyBackbone implements Backbone {
  readonly featureDim: number;
  readonly config = { arch: 'tiny-test' };
  private readonly vars: Record<string, NamedVariable>;
  constructor(inC: number, outC: number, rng: Rng) {
    const v = (name: string, kind: NamedVariable['kind'], t: tf.Tensor, trainable = true): NamedVariable =>
      ({ name: `enc/${name}`, kind, variable: tf.variable(t, trainable) });
    const r = (shape: number[], lo: number, hi: number) => tf.randomUniform(shape, lo, hi, 'float32', rng.seed());
    this.vars = {
      kernel: v('conv/kernel', 'weight', r([3, 3, inC, outC], -0.5, 0.5)),
      gamma: v('bn/gamma', 'bn', r([outC], 0.5, 1.5)),
      beta: v('bn/beta', 'bn', r([outC], -0.2, 0.2)),
      mean: v('bn/moving_mean', 'bn', r([outC], -0.3, 0.3), false),
      variance: v('bn/moving_variance', 'bn', r([outC], 0.2, 2), false),
    };
    this.featureDim = outC;
  }
  apply(x: tf.Tensor, training: boolean): tf.Tensor2D {
    if (training) throw new Error('TinyBackbone is eval-only');
    const { kernel, gamma, beta, mean, variance } = this.vars;
    return tf.tidy(() => {
      const h = tf.conv2d(x as tf.Tensor4D, kernel.variable as tf.Tensor4D, 2, 'same');
      const n = tf.batchNorm(h, mean.variable, variance.variable, beta.variable, gamma.variable, 1e-5);
      return tf.mean(tf.relu(n), [1, 2]) as tf.Tensor2D;
    });
  }
  params(): NamedVariable[] { return [this.vars.kernel, this.vars.gamma, this.vars.beta]; }
  buffers(): NamedVariable[] { return [this.vars.mean, this.vars.variance]; }
  exportGraph(): ExportGraph {
    return {
      nodes: [
        { op: 'conv', id: 'conv', input: 'input', vars: 'enc/conv', stride: 2 },
        { op: 'bn', id: 'bn', input: 'conv', vars: 'enc/bn' },
        { op: 'relu', id: 'relu', input: 'bn' },
        { op: 'gap', id: 'pool', input: 'relu' },
      ],
      output: 'pool',
    };
  }
}

/** Gives every batch-norm parameter and running statistic non-trivial values, so eval-mode BN is not an identity. */
function randomizeBn(b: Backbone, rng: Rng): void {
  for (const v of [...b.params(), ...b.buffers()]) {
    const s = v.variable.shape;
    if (v.name.endsWith('/gamma')) v.variable.assign(tf.randomUniform(s, 0.5, 1.5, 'float32', rng.seed()));
    else if (v.name.endsWith('/beta')) v.variable.assign(tf.randomUniform(s, -0.2, 0.2, 'float32', rng.seed()));
    else if (v.name.endsWith('/moving_mean')) v.variable.assign(tf.randomUniform(s, -0.3, 0.3, 'float32', rng.seed()));
    else if (v.name.endsWith('/moving_variance')) v.variable.assign(tf.randomUniform(s, 0.3, 2, 'float32', rng.seed()));
  }
}

// Runs in a fresh Node process with only @tensorflow/tfjs. The model is loaded twice: through a file-reading
// IOHandler, and through tfjs's own http loader from a local server (the path a browser takes: fetch
// model.json, then the shards it names relative to it). Both predictions are written back.
const CHILD = String.raw`
const fs = require('fs'); const path = require('path'); const http = require('http');
const tf = require('@tensorflow/tfjs');
const [dir, inFile, outFile, shapeJson] = process.argv.slice(1);
const handler = { load: async () => {
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
    const specs = []; const parts = [];
    for (const g of manifest) { specs.push(...g.weights); for (const p of g.paths) parts.push(fs.readFileSync(path.join(dir, p))); }
    const b = Buffer.concat(parts);
    return [specs, b.buffer.slice(b.byteOffset, b.byteOffset + b.length)];
  });
} };
async function run(model, x, file) {
  const y = model.predict(x);
  const data = await y.data();
  fs.writeFileSync(file, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  return y.shape;
}
(async () => {
  await tf.setBackend('cpu');
  const b = fs.readFileSync(inFile);
  const x = tf.tensor(new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length)), JSON.parse(shapeJson));
  const model = await tf.loadLayersModel(handler);
  const shape = await run(model, x, outFile);
  const server = http.createServer((req, res) => {
    const f = path.join(dir, path.basename(decodeURIComponent(req.url)));
    if (!fs.existsSync(f)) { res.statusCode = 404; res.end(); return; }
    res.setHeader('Content-Type', f.endsWith('.json') ? 'application/json' : 'application/octet-stream');
    res.end(fs.readFileSync(f));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const viaHttp = await tf.loadLayersModel('http://127.0.0.1:' + server.address().port + '/model.json');
  await run(viaHttp, x, outFile + '.http');
  server.close();
  fs.writeFileSync(outFile + '.json', JSON.stringify({ shape, metadata: model.getUserDefinedMetadata() }));
})().catch((e) => { console.error(e); process.exit(1); });
`;

function readF32(file: string): Float32Array {
  const b = fs.readFileSync(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
}

function predictInChild(dir: string, x: Float32Array, shape: number[]): { y: Float32Array; shape: number[]; metadata: unknown } {
  const inFile = path.join(dir, '..', `${path.basename(dir)}-in.f32`);
  const outFile = path.join(dir, '..', `${path.basename(dir)}-out.f32`);
  fs.writeFileSync(inFile, Buffer.from(x.buffer, x.byteOffset, x.byteLength));
  // cwd = the repository, so require() finds node_modules/@tensorflow/tfjs; nothing from src/ is loaded.
  execFileSync(process.execPath, ['-e', CHILD, dir, inFile, outFile, JSON.stringify(shape)], { cwd: process.cwd(), stdio: ['ignore', 'ignore', 'pipe'] });
  const meta = JSON.parse(fs.readFileSync(`${outFile}.json`, 'utf8'));
  const y = readF32(outFile);
  // The browser path (http loader) must give the very same numbers as the file path.
  expect(Array.from(readF32(`${outFile}.http`))).toEqual(Array.from(y));
  return { y, shape: meta.shape, metadata: meta.metadata };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'selfsup-export-'));
beforeAll(async () => { await tf.setBackend('cpu'); });
afterAll(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

describe('exportBackbone', () => {
  it('round-trips a conv-bn-relu-gap backbone through a fresh tfjs process', async () => {
    const rng = new Rng(1);
    const bb = new TinyBackbone(3, 5, rng);
    const dir = path.join(tmpRoot, 'tiny');
    const { files } = await exportBackbone(bb, dir, { inputShape: [6, 6, 3] });
    expect(files.map((f) => path.basename(f)).sort()).toEqual([WEIGHTS_FILE, MODEL_JSON].sort());
    expect(fs.readdirSync(dir).sort()).toEqual([WEIGHTS_FILE, MODEL_JSON].sort()); // no temporaries left

    const json = JSON.parse(fs.readFileSync(path.join(dir, MODEL_JSON), 'utf8'));
    expect(json.format).toBe('layers-model');
    expect(json.weightsManifest).toHaveLength(1);
    expect(json.weightsManifest[0].paths).toEqual([WEIGHTS_FILE]);
    const specs = json.weightsManifest[0].weights as { name: string; shape: number[]; dtype: string }[];
    expect(specs.map((s) => s.name).sort()).toEqual(['bn/beta', 'bn/gamma', 'bn/moving_mean', 'bn/moving_variance', 'conv/kernel']);
    expect(specs.find((s) => s.name === 'conv/kernel')!.shape).toEqual([3, 3, 3, 5]);
    const bytes = specs.reduce((n, s) => n + 4 * s.shape.reduce((a, b) => a * b, 1), 0);
    expect(fs.statSync(path.join(dir, WEIGHTS_FILE)).size).toBe(bytes);

    const x = tf.randomNormal([4, 6, 6, 3], 0, 1, 'float32', rng.seed()) as tf.Tensor4D;
    const want = bb.apply(x, false);
    const wantData = (await want.data()) as Float32Array;
    const child = predictInChild(dir, (await x.data()) as Float32Array, x.shape);
    expect(child.shape).toEqual([4, 5]);
    expect(maxAbsDiff(child.y, wantData)).toBeLessThan(1e-4);
    expect(child.metadata).toMatchObject({ selfsup: { featureDim: 5, inputShape: [6, 6, 3], backbone: { arch: 'tiny-test' } } });
    // Guard against a vacuous comparison: the embeddings are not all zero.
    expect(Math.max(...wantData.map(Math.abs))).toBeGreaterThan(1e-2);
    tf.dispose([x, want]);
  });

  it('exports the project ResNet (stride-2 stages, projection shortcuts) and matches it in a fresh process', async () => {
    const rng = new Rng(2);
    const bb = buildBackbone({ arch: 'resnet', widths: [4, 8], blocks: [2, 1], inChannels: 3 }, rng.fork('model'));
    randomizeBn(bb, rng);
    const graph = describeBackbone(bb);
    expect(graph.nodes.filter((n) => n.op === 'conv').length).toBe(1 + 2 * 3 + 1); // stem, 3 blocks x 2, one shortcut
    const dir = path.join(tmpRoot, 'resnet');
    await exportBackbone(bb, dir, { inputShape: [8, 8, 3] });
    const json = JSON.parse(fs.readFileSync(path.join(dir, MODEL_JSON), 'utf8'));
    const names = (json.weightsManifest[0].weights as { name: string }[]).map((w) => w.name);
    const own = [...bb.params(), ...bb.buffers()].map((v) => v.name.replace(/^backbone\//, ''));
    expect(names.sort()).toEqual(own.sort()); // every variable exported once, under its checkpoint name

    const x = tf.randomNormal([3, 8, 8, 3], 0, 1, 'float32', rng.seed()) as tf.Tensor4D;
    const want = (await bb.apply(x, false).data()) as Float32Array;
    const child = predictInChild(dir, (await x.data()) as Float32Array, x.shape);
    expect(child.shape).toEqual([3, 8]);
    expect(maxAbsDiff(child.y, want)).toBeLessThan(1e-4);
    expect(Math.max(...want)).toBeGreaterThan(1e-2);
    x.dispose();
  });

  it('can export twice in one process (tfjs-layers renames clashing variables internally)', async () => {
    const bb = new TinyBackbone(1, 2, new Rng(3));
    const a = path.join(tmpRoot, 'twice-a');
    const b = path.join(tmpRoot, 'twice-b');
    await exportBackbone(bb, a, { inputShape: [4, 4, 1] });
    await exportBackbone(bb, b, { inputShape: [4, 4, 1] });
    const wa = JSON.parse(fs.readFileSync(path.join(a, MODEL_JSON), 'utf8')).weightsManifest[0].weights;
    const wb = JSON.parse(fs.readFileSync(path.join(b, MODEL_JSON), 'utf8')).weightsManifest[0].weights;
    expect(wb).toEqual(wa);
    expect(fs.readFileSync(path.join(b, WEIGHTS_FILE))).toEqual(fs.readFileSync(path.join(a, WEIGHTS_FILE)));
  });

  it('refuses to write a model whose graph does not reproduce the backbone', async () => {
    const bb = new TinyBackbone(2, 3, new Rng(4));
    const wrong = Object.assign(Object.create(Object.getPrototypeOf(bb)), bb) as TinyBackbone;
    wrong.exportGraph = () => {
      const g = TinyBackbone.prototype.exportGraph.call(bb);
      return { ...g, nodes: g.nodes.filter((n) => n.op !== 'relu').map((n) => (n.op === 'gap' ? { ...n, input: 'bn' } : n)) };
    };
    const dir = path.join(tmpRoot, 'wrong');
    await expect(exportBackbone(wrong, dir, { inputShape: [6, 6, 2] })).rejects.toThrow(/differs from the backbone/);
    expect(fs.existsSync(path.join(dir, MODEL_JSON))).toBe(false);
  });

  it('names missing variables and unknown architectures', async () => {
    const bb = new TinyBackbone(1, 2, new Rng(5));
    const noGraph = { ...bb, apply: bb.apply.bind(bb), params: bb.params.bind(bb), buffers: bb.buffers.bind(bb), exportGraph: undefined } as unknown as Backbone;
    expect(() => describeBackbone(noGraph)).toThrow(/arch 'tiny-test'/);
    const g = resnetGraph({ widths: [2], blocks: [1], inChannels: 1 }, 'missing');
    const withBadGraph = Object.assign(Object.create(Object.getPrototypeOf(bb)), bb, { exportGraph: () => g }) as Backbone;
    await expect(exportBackbone(withBadGraph, path.join(tmpRoot, 'bad'), { inputShape: [4, 4, 1] })).rejects.toThrow(/no variable 'missing\/stem\/conv\/kernel'/);
  });
});

describe('exportEmbeddings', () => {
  it('writes float32 rows, int32 labels and an index that read back exactly', async () => {
    const rng = new Rng(6);
    const bb = new TinyBackbone(1, 4, rng);
    const n = 7;
    const pixels = Uint8Array.from({ length: n * 5 * 5 }, () => rng.int(256));
    const labels = Int32Array.from({ length: n }, (_, i) => i % 3);
    const ds = new MemoryDataset('toy', pixels, 5, 5, 1, labels, ['a', 'b', 'c']);
    const dir = path.join(tmpRoot, 'emb');
    const { files, index } = await exportEmbeddings(bb, ds, dir, { batchSize: 3 });
    expect(files.map((f) => path.basename(f)).sort()).toEqual(['embeddings.f32', 'index.json', 'labels.i32']);
    expect(index).toMatchObject({ count: 7, dim: 4, dtype: 'float32', byteOrder: 'little', normalized: false, dataset: 'toy', classNames: ['a', 'b', 'c'] });

    // Reference: the backbone on all images at once, pixels scaled to [0, 1].
    const x = tf.tensor4d(Float32Array.from(pixels, (p) => p / 255), [n, 5, 5, 1]);
    const ref = (await bb.apply(x, false).data()) as Float32Array;
    const raw = fs.readFileSync(path.join(dir, 'embeddings.f32'));
    expect(raw.length).toBe(n * 4 * 4);
    for (let i = 0; i < n * 4; i++) expect(Math.abs(raw.readFloatLE(4 * i) - ref[i])).toBeLessThan(1e-5);
    const lab = fs.readFileSync(path.join(dir, 'labels.i32'));
    expect(Array.from({ length: n }, (_, i) => lab.readInt32LE(4 * i))).toEqual(Array.from(labels));

    const back = readEmbeddings(dir);
    expect(back.index).toEqual(index);
    expect(Array.from(back.labels!)).toEqual(Array.from(labels));
    expect(maxAbsDiff(back.embeddings, ref)).toBeLessThan(1e-5);
    x.dispose();
  });

  it('L2-normalizes rows on request and omits labels for unlabelled data', async () => {
    const rng = new Rng(7);
    const bb = new TinyBackbone(1, 3, rng);
    const ds = new MemoryDataset('unlabelled', Uint8Array.from({ length: 4 * 16 }, () => rng.int(256)), 4, 4, 1);
    const dir = path.join(tmpRoot, 'emb-norm');
    const { index } = await exportEmbeddings(bb, ds, dir, { normalize: true });
    expect(index.labels).toBeNull();
    expect(fs.existsSync(path.join(dir, 'labels.i32'))).toBe(false);
    const { embeddings } = readEmbeddings(dir);
    for (let r = 0; r < 4; r++) {
      const row = embeddings.subarray(r * 3, r * 3 + 3);
      const norm = Math.hypot(...row);
      if (norm > 0) expect(norm).toBeCloseTo(1, 5);
    }
  });
});

describe('selfsup export (exportCommand)', () => {
  const recipe = loadRecipe(DEFAULT_RECIPE, ['model.widths=[4,8]', 'model.blocks=[1,1]', 'data.limit_train=12', 'data.limit_test=6']);
  const rng = new Rng(8);
  const bb = backboneFromRecipe(recipe, rng.fork('init'));
  randomizeBn(bb, rng);
  const runDir = path.join(tmpRoot, 'run');

  beforeAll(async () => {
    const sources = [...bb.params(), ...bb.buffers()].map((v) => ({ name: v.name, group: 'param' as const, tensor: v.variable }));
    await saveCheckpoint(path.join(runDir, 'ckpt'), { step: 3, epoch: 0, batchInEpoch: 3, method: 'simclr', recipe }, sources, 2);
  });

  it('--format tfjs writes the checkpoint backbone, which a fresh tfjs process reproduces', async () => {
    const out = path.join(tmpRoot, 'cli-tfjs');
    const lines: string[] = [];
    await exportCommand({ checkpoint: runDir, out, format: 'tfjs', sets: [], say: (l) => lines.push(l) });
    expect(lines.join('\n')).toContain('model.json');
    const x = tf.randomUniform([2, 28, 28, 1], 0, 1, 'float32', rng.seed()) as tf.Tensor4D;
    const want = (await bb.apply(x, false).data()) as Float32Array;
    const child = predictInChild(out, (await x.data()) as Float32Array, x.shape);
    expect(child.shape).toEqual([2, 8]);
    expect(maxAbsDiff(child.y, want)).toBeLessThan(1e-4);
    expect(child.metadata).toMatchObject({ selfsup: { source: { step: 3, method: 'simclr' }, inputShape: [28, 28, 1] } });
    x.dispose();
  });

  it('--format embeddings writes each evaluation split with the recipe eval transform', async () => {
    const out = path.join(tmpRoot, 'cli-emb');
    await exportCommand({ checkpoint: runDir, out, format: 'embeddings', sets: [], say: () => {} });
    const train = readEmbeddings(path.join(out, 'train'));
    const test = readEmbeddings(path.join(out, 'test'));
    expect(train.index.count).toBe(12);
    expect(test.index.count).toBe(6);
    expect(train.index.dim).toBe(8);
    for (const l of [...train.labels!, ...test.labels!]) expect(l >= 0 && l <= 9).toBe(true);
    // Spot check one row against the backbone on the same image through the same eval transform.
    const { openSplits } = await import('../src/data/index.ts');
    const splits = await openSplits(recipe.data, { seed: recipe.train.seed, cacheDir: path.join(tmpRoot, 'cache') });
    const { evalTransform } = buildAugmenter(recipe, 1);
    const batch = await splits.evalTest!.read([0]);
    const first = tf.tidy(() => bb.apply(evalTransform(batch), false));
    expect(maxAbsDiff(test.embeddings.subarray(0, 8), (await first.data()) as Float32Array)).toBeLessThan(1e-5);
    first.dispose();
  });

  it('reports bad input as user errors', async () => {
    const bad = (o: Partial<Parameters<typeof exportCommand>[0]>) =>
      exportCommand({ checkpoint: runDir, out: path.join(tmpRoot, 'x'), format: 'tfjs', sets: [], say: () => {}, ...o }).then(() => null, (e) => e);
    for (const e of [
      await bad({ checkpoint: path.join(tmpRoot, 'nope') }),
      await bad({ format: 'onnx' as never }),
      await bad({ sets: ['model.widths=[4,16]'] }), // shapes no longer fit the checkpoint
    ]) {
      expect(isUserError(e)).toBe(true);
    }
  });
});
