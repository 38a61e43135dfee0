// A backbone exported by `selfsup export --format tfjs` (or a run's backbone/
// folder), rebuilt as our own Module so it embeds exactly as the checkpoint it
// came from: model.json's userDefinedMetadata.selfsup (src/export/backbone.ts)
// says how to build it and how images become its input, and carries the
// weights hash that the rebuilt backbone must reproduce.
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import path from 'node:path';
import type { EvalTransform } from '../eval/features.ts';
import { weightsHashOfLoaded } from '../eval/guard.ts';
import { MODEL_JSON } from '../export/backbone.ts';
import { fromExported } from '../models/init.ts';
import { disposeModule, type Backbone } from '../models/module.ts';
import { buildBackbone, type BackboneConfig } from '../models/resnet.ts';
import { restoreVariables } from '../train/checkpoint.ts';
import { isUserError, UserError } from '../util/errors.ts';
import { Rng } from '../util/rng.ts';
import type { ModelInfo, Preprocessing } from './manifest.ts';

/** userDefinedMetadata.selfsup of an exported model.json, as this version writes it. */
export interface ExportedMetadata {
  backbone: BackboneConfig;
  featureDim: number;
  inputShape: [number, number, number];
  fingerprint: string;
  preprocessing: Preprocessing;
  source?: { checkpoint?: string; step?: number; method?: string; recipe?: string };
}

export interface ExportedModel {
  backbone: Backbone;
  metadata: ExportedMetadata;
  model: ModelInfo;
  preprocessing: Preprocessing;
}

/** Builds the backbone described by `dir`/model.json and loads its weights; anything missing or inconsistent is a UserError naming the file. */
export function loadExportedModel(dir: string): ExportedModel {
  const file = path.join(dir, MODEL_JSON);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new UserError(`--model ${dir}: not a folder; expected an exported backbone folder (selfsup export --format tfjs, or a run's backbone/)`);
  }
  if (!fs.existsSync(file)) throw new UserError(`--model ${dir}: no ${MODEL_JSON} in it; expected a folder written by selfsup export --format tfjs (or a run's backbone/)`);
  let json: { userDefinedMetadata?: { selfsup?: unknown } };
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UserError(`${file}: not a readable TF.js model (${(e as Error).message.split('\n')[0]})`);
  }
  const metadata = checkMetadata(json?.userDefinedMetadata?.selfsup, file);
  let backbone: Backbone;
  try {
    // The seed is irrelevant: every variable is overwritten from the weight shard.
    backbone = buildBackbone(metadata.backbone, new Rng('exported-model'));
  } catch (e) {
    throw new UserError(`${file}: the backbone it describes cannot be built (${(e as Error).message.split('\n')[0]}); re-export it with this version`);
  }
  try {
    const vars = [...backbone.params(), ...backbone.buffers()];
    try {
      restoreVariables(fromExported(dir, vars), vars);
    } catch (e) {
      if (isUserError(e)) throw new UserError(`--model ${dir}: ${(e as Error).message}`);
      throw e;
    }
    if (backbone.featureDim !== metadata.featureDim) {
      throw new UserError(`${file}: featureDim ${metadata.featureDim} does not match its backbone's ${backbone.featureDim}; the model folder is damaged or from another selfsup version; re-export it`);
    }
    const hash = weightsHashOfLoaded(backbone);
    if (hash !== metadata.fingerprint) {
      throw new UserError(`${file}: the weights give fingerprint ${hash.slice(0, 12)}, the file records ${metadata.fingerprint.slice(0, 12)}; the model folder is damaged or from another selfsup version; re-export it`);
    }
  } catch (e) {
    disposeModule(backbone);
    throw e;
  }
  const src = metadata.source ?? {};
  const p = metadata.preprocessing;
  // Same key order as a --checkpoint embedder's, so manifests compare equal as JSON.
  const preprocessing: Preprocessing = { size: p.size, channels: p.channels, mean: [...p.mean], std: [...p.std], resize: p.resize };
  const model: ModelInfo = {
    fingerprint: metadata.fingerprint,
    // The checkpoint export recorded (it may be on another machine); queries use model_dir first.
    checkpoint: typeof src.checkpoint === 'string' && path.isAbsolute(src.checkpoint) ? src.checkpoint : '',
    model_dir: path.resolve(dir),
    ...(typeof src.step === 'number' ? { step: src.step } : {}),
    ...(typeof src.method === 'string' ? { method: src.method } : {}),
    ...(typeof src.recipe === 'string' ? { recipe: src.recipe } : {}),
  };
  return { backbone, metadata, model, preprocessing };
}

function checkMetadata(raw: unknown, file: string): ExportedMetadata {
  const reexport = 're-export it with this version (selfsup export --format tfjs --checkpoint ...) or embed with --checkpoint';
  if (raw === undefined || raw === null || typeof raw !== 'object') {
    throw new UserError(`${file}: no selfsup metadata (userDefinedMetadata.selfsup; an older export or not from selfsup); ${reexport}`);
  }
  const m = raw as Partial<ExportedMetadata>;
  if (m.preprocessing === undefined) throw new UserError(`${file}: its selfsup metadata has no preprocessing (an older export); ${reexport}`);
  const bad = (what: string) => new UserError(`${file}: bad selfsup metadata (${what}); the model folder is damaged or from another selfsup version; ${reexport}`);
  const posInts = (v: unknown) => Array.isArray(v) && v.length > 0 && v.every((x) => Number.isInteger(x) && x > 0);
  const b = m.backbone;
  if (!b || (b.arch !== 'resnet' && b.arch !== 'resnet18') || !posInts(b.widths) || !posInts(b.blocks) || !(b.inChannels === 1 || b.inChannels === 3)) {
    throw bad(`backbone ${JSON.stringify(b)}`);
  }
  if (typeof m.fingerprint !== 'string' || !/^[0-9a-f]{64}$/.test(m.fingerprint)) throw bad(`fingerprint ${JSON.stringify(m.fingerprint)}`);
  if (!(Number.isInteger(m.featureDim) && m.featureDim! > 0)) throw bad(`featureDim ${JSON.stringify(m.featureDim)}`);
  const p = m.preprocessing;
  const stats = (v: unknown, pos: boolean) => Array.isArray(v) && v.length === p.channels && v.every((x) => Number.isFinite(x) && (!pos || x > 0));
  if (!(Number.isInteger(p.size) && p.size > 0) || p.channels !== b.inChannels || !stats(p.mean, false) || !stats(p.std, true) || p.resize !== 'cover-centre-crop') {
    throw bad(`preprocessing ${JSON.stringify(p)} for a ${b.inChannels}-channel backbone`);
  }
  const s = m.inputShape;
  if (s !== undefined && !(Array.isArray(s) && s[0] === p.size && s[1] === p.size && s[2] === p.channels)) {
    throw bad(`inputShape ${JSON.stringify(s)} vs preprocessing size ${p.size}, channels ${p.channels}`);
  }
  return m as ExportedMetadata;
}

/**
 * The exported model's input transform: (x/255 - mean) / std per channel on
 * images already decoded at size x size x channels (cover + centre crop, as
 * decodeFiles and recipe sources give them).
 */
export function normalizeTransform(p: Preprocessing): EvalTransform {
  return (b) => {
    if (b.height !== p.size || b.width !== p.size || b.channels !== p.channels) {
      throw new Error(`embed: images are ${b.height}x${b.width}x${b.channels}, the model takes ${p.size}x${p.size}x${p.channels}`);
    }
    return tf.tidy(() => {
      const x = tf.tensor4d(new Float32Array(b.data), [b.n, b.height, b.width, b.channels]);
      return tf.div(tf.sub(tf.div(x, 255), tf.tensor1d(p.mean)), tf.tensor1d(p.std));
    });
  };
}
