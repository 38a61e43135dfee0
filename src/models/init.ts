// `model.init`: start a run from trained backbone weights instead of random
// ones, e.g. fine-tune a SimCLR backbone with a supervised metric loss. The
// source is a checkpoint (run folder, its ckpt/ or one ckpt/step-* folder) or a
// backbone exported as a TF.js model (`selfsup export`, model.json + shards).
// Only the backbone is taken; heads and optimizer state start fresh.
import * as tf from '@tensorflow/tfjs';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadCheckpoint, restoreVariables, type LoadedCheckpoint } from '../train/checkpoint.ts';
import { isUserError, UserError } from '../util/errors.ts';
import type { Backbone, NamedVariable } from './module.ts';

export async function initBackbone(backbone: Backbone, path: string): Promise<void> {
  if (!existsSync(path)) {
    throw new UserError(`model.init: ${path} does not exist; expected a checkpoint (run folder, ckpt/ or ckpt/step-*) or an exported backbone folder (model.json)`);
  }
  const vars = [...backbone.params(), ...backbone.buffers()];
  try {
    if (existsSync(join(path, 'model.json'))) restoreVariables(fromExported(path, vars), vars);
    else restoreVariables(loadCheckpoint(path), vars);
  } catch (e) {
    if (isUserError(e)) throw new UserError(`model.init: ${(e as Error).message}`);
    throw e;
  }
}

interface ModelJson { weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[] }

/**
 * An exported backbone as the checkpoint shape restoreVariables checks against.
 * Export names each weight after its variable without the module prefix
 * ('backbone/stem/conv/kernel' is saved as 'stem/conv/kernel').
 */
export function fromExported(dir: string, vars: NamedVariable[]): LoadedCheckpoint {
  const file = join(dir, 'model.json');
  let mj: ModelJson;
  try {
    mj = JSON.parse(readFileSync(file, 'utf8')) as ModelJson;
  } catch (e) {
    throw new UserError(`${file}: not a readable TF.js model (${(e as Error).message})`);
  }
  const groups = mj.weightsManifest;
  if (!Array.isArray(groups)) throw new UserError(`${file}: no weightsManifest; not a TF.js layers model`);
  const tensors = new Map<string, Float32Array>();
  const entries: { name: string; group: 'param'; shape: number[]; offset: number; length: number }[] = [];
  const prefix = vars.length ? vars[0].name.slice(0, vars[0].name.indexOf('/') + 1) : '';
  for (const g of groups) {
    const parts = g.paths.map((p) => {
      const shard = join(dir, p);
      if (!existsSync(shard)) throw new UserError(`${shard}: weight shard named in ${file} is missing`);
      return readFileSync(shard);
    });
    const buf = Buffer.concat(parts);
    const want = g.weights.reduce((s, w) => s + 4 * w.shape.reduce((a, b) => a * b, 1), 0);
    if (buf.byteLength < want) throw new UserError(`${join(dir, g.paths[0])}: truncated (${buf.byteLength} bytes, the manifest needs ${want})`);
    const decoded = tf.io.decodeWeights(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength), g.weights);
    for (const [name, t] of Object.entries(decoded)) {
      const full = `${prefix}${name}`;
      tensors.set(full, t.dataSync() as Float32Array);
      entries.push({ name: full, group: 'param', shape: t.shape.slice(), offset: 0, length: t.size });
      t.dispose();
    }
  }
  return { path: dir, meta: { tensors: entries, method: 'exported backbone' } as unknown as LoadedCheckpoint['meta'], tensors };
}
