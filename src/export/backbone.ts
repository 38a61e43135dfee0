// Export of a trained backbone for use outside selfsup: a stock TF.js Layers
// model (model.json + one weight shard, loadable with tf.loadLayersModel in Node
// or a browser, no selfsup code needed). The embeddings writer is in
// embeddings.ts, the static search site in site.ts.
//
// Our models are Modules over named tf.Variables, not tf.layers, so export
// rebuilds the backbone's eval-mode forward pass from tf.layers pieces. The
// rebuild is driven by an ExportGraph (a small list of conv / bn / relu / add /
// gap nodes naming the variables they use), so a new backbone family only has
// to say how it is wired; ResNet's graph is derived from its config here.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { Backbone, NamedVariable } from '../models/module.ts';
import { weightsHash } from '../eval/guard.ts';
import { assertFiniteOutputs } from '../eval/finite-outputs.ts';
import type { Preprocessing } from '../search/manifest.ts';
import { BN_EPSILON, BN_MOMENTUM } from '../models/ops.ts';
import { Rng } from '../util/rng.ts';

/**
 * One step of a backbone's eval-mode forward pass. `id` names the node's output;
 * 'input' is the image batch. Conv and bn nodes name their variables by prefix:
 * conv `${vars}/kernel` ([kh, kw, in, out], no bias, 'same' padding), bn
 * `${vars}/{gamma,beta,moving_mean,moving_variance}`.
 */
export type GraphNode =
  | { op: 'conv'; id: string; input: string; vars: string; stride: number }
  | { op: 'bn'; id: string; input: string; vars: string }
  | { op: 'relu'; id: string; input: string }
  | { op: 'add'; id: string; inputs: [string, string] }
  | { op: 'gap'; id: string; input: string };

export interface ExportGraph {
  nodes: GraphNode[];
  /** id of the node whose output is the embedding. */
  output: string;
}

/** A backbone that describes its own wiring (takes precedence over the config-based description). */
export interface DescribesExportGraph {
  exportGraph(): ExportGraph;
}

export interface ExportBackboneOptions {
  /** [height, width, channels] of one input image. */
  inputShape: [number, number, number];
  /** Largest allowed |tfjs-layers - backbone| per element, relative to max(1, |backbone|). Default 1e-4. */
  tolerance?: number;
  /** How images become the model's input (the recipe's eval transform); stored so the model can embed on its own. */
  preprocessing?: Preprocessing;
  /** Stored under userDefinedMetadata.selfsup in model.json (e.g. where the model came from). */
  metadata?: Record<string, unknown>;
}

export const MODEL_JSON = 'model.json';
export const WEIGHTS_FILE = 'group1-shard1of1.bin';

/** The variable-name prefix shared by a backbone's variables, e.g. 'backbone' from 'backbone/stem/conv/kernel'. */
function prefixOf(vars: NamedVariable[], anchor: string): string {
  const hit = vars.find((v) => v.name.endsWith(`/${anchor}`) || v.name === anchor);
  if (!hit) throw new Error(`export: no variable named '.../${anchor}' in the backbone`);
  return hit.name.slice(0, hit.name.length - anchor.length).replace(/\/$/, '');
}

/** Mirrors ResNet in src/models/resnet.ts: 3x3 stem conv-bn-relu, basic blocks (projection shortcut on shape change), global average pool. */
export function resnetGraph(config: { widths: number[]; blocks: number[]; inChannels: number }, prefix: string): ExportGraph {
  const p = prefix ? `${prefix}/` : '';
  const nodes: GraphNode[] = [
    { op: 'conv', id: 'stem/conv', input: 'input', vars: `${p}stem/conv`, stride: 1 },
    { op: 'bn', id: 'stem/bn', input: 'stem/conv', vars: `${p}stem/bn` },
    { op: 'relu', id: 'stem/relu', input: 'stem/bn' },
  ];
  let x = 'stem/relu';
  let inC = config.widths[0];
  config.widths.forEach((w, stage) => {
    for (let b = 0; b < config.blocks[stage]; b++) {
      const stride = stage > 0 && b === 0 ? 2 : 1;
      const n = `layer${stage + 1}.${b}`;
      nodes.push(
        { op: 'conv', id: `${n}/conv1`, input: x, vars: `${p}${n}/conv1`, stride },
        { op: 'bn', id: `${n}/bn1`, input: `${n}/conv1`, vars: `${p}${n}/bn1` },
        { op: 'relu', id: `${n}/relu1`, input: `${n}/bn1` },
        { op: 'conv', id: `${n}/conv2`, input: `${n}/relu1`, vars: `${p}${n}/conv2`, stride: 1 },
        { op: 'bn', id: `${n}/bn2`, input: `${n}/conv2`, vars: `${p}${n}/bn2` },
      );
      let shortcut = x;
      if (stride !== 1 || inC !== w) {
        nodes.push(
          { op: 'conv', id: `${n}/shortcut/conv`, input: x, vars: `${p}${n}/shortcut/conv`, stride },
          { op: 'bn', id: `${n}/shortcut/bn`, input: `${n}/shortcut/conv`, vars: `${p}${n}/shortcut/bn` },
        );
        shortcut = `${n}/shortcut/bn`;
      }
      nodes.push({ op: 'add', id: `${n}/add`, inputs: [`${n}/bn2`, shortcut] }, { op: 'relu', id: `${n}/out`, input: `${n}/add` });
      x = `${n}/out`;
      inC = w;
    }
  });
  nodes.push({ op: 'gap', id: 'pool', input: x });
  return { nodes, output: 'pool' };
}

/** How `backbone` is wired: its own description if it gives one, else one derived from config.arch. */
export function describeBackbone(backbone: Backbone): ExportGraph {
  const own = (backbone as Partial<DescribesExportGraph>).exportGraph;
  if (typeof own === 'function') return own.call(backbone);
  const cfg = backbone.config as { arch?: unknown; widths?: number[]; blocks?: number[]; inChannels?: number };
  if (cfg.arch === 'resnet' || cfg.arch === 'resnet18') {
    if (!cfg.widths || !cfg.blocks || cfg.inChannels === undefined) throw new Error(`export: resnet config lacks widths/blocks/inChannels`);
    const prefix = prefixOf(backbone.params(), 'stem/conv/kernel');
    return resnetGraph({ widths: cfg.widths, blocks: cfg.blocks, inChannels: cfg.inChannels }, prefix);
  }
  throw new Error(`export: no export description for backbone arch '${String(cfg.arch)}'`);
}

/** tf.layers names allow [-A-Za-z0-9._/]; ids are built from variable names, which already fit. */
function layerName(id: string): string {
  return id.replace(/[^-A-Za-z0-9._/]/g, '_');
}

/**
 * Builds a tf.layers model computing `graph` and copies the backbone's
 * variables into it. Initializers are 'zeros' so building draws no randomness.
 */
export function buildLayersModel(graph: ExportGraph, vars: Map<string, tf.Tensor>, inputShape: [number, number, number]): tf.LayersModel {
  const get = (name: string): tf.Tensor => {
    const t = vars.get(name);
    if (!t) throw new Error(`export: the backbone has no variable '${name}'`);
    return t;
  };
  const input = tf.input({ shape: inputShape, name: 'input' });
  const out = new Map<string, tf.SymbolicTensor>([['input', input]]);
  const from = (id: string): tf.SymbolicTensor => {
    const s = out.get(id);
    if (!s) throw new Error(`export: graph node '${id}' used before it is defined`);
    return s;
  };
  const weights: [tf.layers.Layer, tf.Tensor[]][] = [];
  for (const node of graph.nodes) {
    if (out.has(node.id)) throw new Error(`export: duplicate graph node '${node.id}'`);
    let layer: tf.layers.Layer;
    let x: tf.SymbolicTensor | tf.SymbolicTensor[];
    switch (node.op) {
      case 'conv': {
        const k = get(`${node.vars}/kernel`) as tf.Tensor4D;
        if (k.rank !== 4) throw new Error(`export: ${node.vars}/kernel has rank ${k.rank}, expected 4`);
        layer = tf.layers.conv2d({
          name: layerName(node.id), filters: k.shape[3], kernelSize: [k.shape[0], k.shape[1]], strides: node.stride,
          padding: 'same', useBias: false, kernelInitializer: 'zeros',
        });
        weights.push([layer, [k]]);
        x = from(node.input);
        break;
      }
      case 'bn': {
        const w = ['gamma', 'beta', 'moving_mean', 'moving_variance'].map((s) => get(`${node.vars}/${s}`));
        // Keras momentum is the weight of the old value: PyTorch's 0.1 is Keras's 0.9 (matters only if someone fine-tunes).
        layer = tf.layers.batchNormalization({
          name: layerName(node.id), axis: -1, epsilon: BN_EPSILON, momentum: 1 - BN_MOMENTUM,
          gammaInitializer: 'zeros', betaInitializer: 'zeros', movingMeanInitializer: 'zeros', movingVarianceInitializer: 'ones',
        });
        weights.push([layer, w]);
        x = from(node.input);
        break;
      }
      case 'relu':
        layer = tf.layers.activation({ name: layerName(node.id), activation: 'relu' });
        x = from(node.input);
        break;
      case 'add':
        layer = tf.layers.add({ name: layerName(node.id) });
        x = node.inputs.map(from);
        break;
      case 'gap':
        layer = tf.layers.globalAveragePooling2d({ name: layerName(node.id) });
        x = from(node.input);
        break;
    }
    out.set(node.id, layer.apply(x) as tf.SymbolicTensor);
  }
  const model = tf.model({ inputs: input, outputs: from(graph.output), name: 'backbone' });
  for (const [layer, w] of weights) layer.setWeights(w);
  return model;
}

/** Largest |a - b| / max(1, |b|) over two same-shape tensors. */
async function maxRelDiff(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  const d = tf.tidy(() => tf.max(tf.div(tf.abs(tf.sub(a, b)), tf.maximum(tf.abs(b), 1))));
  const v = (await d.data())[0];
  d.dispose();
  return v;
}

/** Serializes artifacts as tfjs's own file/http handlers expect: model.json plus one weight shard. */
function writeArtifacts(outDir: string, a: tf.io.ModelArtifacts): string[] {
  fs.mkdirSync(outDir, { recursive: true });
  const weights = a.weightData === undefined ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(a.weightData);
  const modelJson = {
    format: a.format,
    generatedBy: a.generatedBy,
    convertedBy: a.convertedBy ?? null,
    modelTopology: a.modelTopology,
    weightsManifest: [{ paths: [WEIGHTS_FILE], weights: a.weightSpecs ?? [] }],
    ...(a.userDefinedMetadata ? { userDefinedMetadata: a.userDefinedMetadata } : {}),
  };
  const files: [string, Buffer][] = [
    [WEIGHTS_FILE, Buffer.from(weights)],
    [MODEL_JSON, Buffer.from(JSON.stringify(modelJson))],
  ];
  // Written under temporary names and renamed, so a reader never sees half a model; model.json goes last.
  return files.map(([name, data]) => {
    const file = path.join(outDir, name);
    fs.writeFileSync(`${file}.tmp`, data);
    fs.renameSync(`${file}.tmp`, file);
    return path.resolve(file);
  });
}

/**
 * Writes `backbone` (eval mode: batch-norm running statistics) as a TF.js Layers
 * model in `outDir`, after checking in-process that the rebuilt model gives the
 * backbone's embeddings on a random batch.
 */
export async function exportBackbone(backbone: Backbone, outDir: string, opts: ExportBackboneOptions): Promise<{ files: string[] }> {
  const vars = new Map<string, tf.Tensor>();
  for (const v of [...backbone.params(), ...backbone.buffers()]) vars.set(v.name, v.variable);
  const model = buildLayersModel(describeBackbone(backbone), vars, opts.inputShape);
  try {
    // A diverged backbone (finite weights, overflowing activations) would fail the comparison below as NaN.
    await assertFiniteOutputs(backbone, opts.inputShape, 'the backbone');
    const x = tf.randomNormal([2, ...opts.inputShape], 0, 1, 'float32', new Rng('export-check').seed());
    const want = tf.tidy(() => backbone.apply(x, false));
    const got = model.predict(x) as tf.Tensor;
    const shapesMatch = got.shape.join() === want.shape.join();
    const diff = shapesMatch ? await maxRelDiff(got, want) : Infinity;
    tf.dispose([x, want, got]);
    const tol = opts.tolerance ?? 1e-4;
    if (!shapesMatch || !(diff <= tol)) {
      throw new Error(`export: rebuilt model differs from the backbone (max relative difference ${diff}, tolerance ${tol})`);
    }
    const fingerprint = await weightsHash(backbone);
    model.setUserDefinedMetadata({
      selfsup: {
        backbone: backbone.config, featureDim: backbone.featureDim, inputShape: opts.inputShape,
        // The same hash an index's manifest records, so an index can be checked against the exported model.
        fingerprint,
        ...(opts.preprocessing ? { preprocessing: opts.preprocessing } : {}),
        ...opts.metadata,
      },
    });
    let files: string[] = [];
    await model.save(tf.io.withSaveHandler(async (artifacts) => {
      files = writeArtifacts(outDir, artifacts);
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }));
    return { files };
  } finally {
    model.dispose();
  }
}
