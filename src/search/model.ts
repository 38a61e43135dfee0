// The frozen backbone that turns images into index vectors: rebuilt from a
// checkpoint exactly as `selfsup export` / `selfsup eval` do (run in eval mode
// with the checkpoint recipe's own eval transform), or from an exported TF.js
// folder (src/search/exported.ts: its metadata's preprocessing), rows
// L2-normalized. Its fingerprint (weightsHash) ties an index to it, whichever
// of the two built it.
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { backboneFromCheckpoint, recipeForCheckpoint } from '../cli/export.ts';
import { decodeImage } from '../data/folder.ts';
import type { ImageBatch } from '../data/types.ts';
import { weightsHashOfLoaded } from '../eval/guard.ts';
import { l2normalize } from '../eval/knn.ts';
import { assertFiniteValues } from '../eval/finite-outputs.ts';
import type { EvalTransform } from '../eval/features.ts';
import { disposeModule, type Backbone } from '../models/module.ts';
import type { Recipe } from '../recipe/index.ts';
import { buildAugmenter } from '../train/augmenter.ts';
import { loadCheckpoint } from '../train/checkpoint.ts';
import { UserError } from '../util/errors.ts';
import { loadExportedModel, normalizeTransform } from './exported.ts';
import type { IndexManifest, ModelInfo, Preprocessing } from './manifest.ts';

export interface Embedder {
  readonly model: ModelInfo;
  readonly preprocessing: Preprocessing;
  readonly dim: number;
  /** The recipe the backbone was trained with; undefined for an exported model (--model), which carries none. */
  readonly recipe?: Recipe;
  /** L2-normalized embeddings, [batch.n * dim]. */
  embed(batch: ImageBatch): Promise<Float32Array>;
  dispose(): void;
}

export interface ModelSource {
  /** A run folder, its ckpt/ folder or a ckpt/step-* folder. */
  checkpoint?: string;
  /** An exported TF.js backbone folder (model.json). */
  model?: string;
}

export function loadEmbedder(src: ModelSource): Embedder {
  if (src.model !== undefined && src.checkpoint !== undefined) throw new UserError('give the model with --checkpoint PATH or --model DIR, not both');
  if (src.model !== undefined) {
    const m = loadExportedModel(src.model);
    return new BackboneEmbedder(m.backbone, normalizeTransform(m.preprocessing), undefined, m.model, m.preprocessing);
  }
  if (!src.checkpoint) throw new UserError('embed: give the model with --checkpoint PATH or --model DIR');
  const ck = loadCheckpoint(src.checkpoint);
  const recipe = recipeForCheckpoint(ck, undefined, []);
  const backbone = backboneFromCheckpoint(ck, recipe);
  const channels = recipe.data.channels;
  const aug = buildAugmenter(recipe, channels);
  return new BackboneEmbedder(backbone, aug.evalTransform, recipe, {
    fingerprint: weightsHashOfLoaded(backbone), checkpoint: path.resolve(ck.path), step: ck.meta.step, method: ck.meta.method, recipe: recipe.name,
  }, {
    size: recipe.data.image_size, channels, mean: [...aug.augmenter.mean], std: [...aug.augmenter.std], resize: 'cover-centre-crop',
  });
}

/** Where a model came from, for messages: its exported folder, else its checkpoint. */
export function modelOrigin(m: ModelInfo): string {
  return m.model_dir ?? (m.checkpoint || 'an unrecorded checkpoint');
}

/**
 * The model to embed an index's queries with: the one given (--checkpoint or
 * --model, e.g. when the index's moved), else the exported folder the index
 * was built from, else its checkpoint. Either kind may query an index built by
 * the other: the fingerprint (and preprocessing and dim) must match.
 */
export function indexEmbedder(m: IndexManifest, given: ModelSource = {}): Embedder {
  let src: ModelSource = given;
  if (given.checkpoint === undefined && given.model === undefined) {
    const { model_dir: dir, checkpoint: ck } = m.model;
    if (dir && fs.existsSync(dir)) src = { model: dir };
    else if (ck && fs.existsSync(ck)) src = { checkpoint: ck };
    else {
      throw new UserError(`the index's model ${modelOrigin(m.model)} is gone; pass the same model with --checkpoint PATH or --model DIR (its fingerprint must be ${m.model.fingerprint.slice(0, 12)})`);
    }
  }
  const e = loadEmbedder(src);
  const refuse = (msg: string) => {
    e.dispose();
    return new UserError(msg);
  };
  if (e.model.fingerprint !== m.model.fingerprint) {
    throw refuse(`fingerprint mismatch: the index was built by model ${m.model.fingerprint} (${modelOrigin(m.model)}), but ${modelOrigin(e.model)} is ${e.model.fingerprint}; query with the index's model or rebuild the index`);
  }
  const a = JSON.stringify(m.preprocessing);
  const b = JSON.stringify(e.preprocessing);
  if (a !== b) throw refuse(`preprocessing mismatch: the index was built with ${a}, ${modelOrigin(e.model)} gives ${b}`);
  if (e.dim !== m.dim) throw refuse(`dimension mismatch: the index has ${m.dim} dimensions, the model gives ${e.dim}`);
  return e;
}

class BackboneEmbedder implements Embedder {
  readonly dim: number;
  constructor(
    private readonly backbone: Backbone, private readonly transform: EvalTransform, readonly recipe: Recipe | undefined,
    readonly model: ModelInfo, readonly preprocessing: Preprocessing,
  ) {
    this.dim = backbone.featureDim;
  }

  async embed(batch: ImageBatch): Promise<Float32Array> {
    const out = tf.tidy(() => this.backbone.apply(this.transform(batch), false).reshape([batch.n, -1]) as tf.Tensor2D);
    try {
      if (out.shape[1] !== this.dim) throw new Error(`embed: backbone gave ${out.shape[1]} features, expected ${this.dim}`);
      const raw = (await out.data()) as Float32Array;
      // A diverged model would otherwise leave NaN rows that the index reports as corrupt vectors.
      assertFiniteValues(raw, `model ${modelOrigin(this.model)}`);
      return l2normalize(raw, this.dim);
    } finally {
      out.dispose();
    }
  }

  dispose(): void { disposeModule(this.backbone); }
}

/** Decoded images, in order, with those that failed named rather than thrown. */
export interface DecodedFiles { batch?: ImageBatch; ok: number[]; failed: { index: number; reason: string }[] }

/** Decodes files as training does (src/data/folder.ts decodeImage: sharp, cover + centre crop, channels). */
export async function decodeFiles(files: string[], p: Pick<Preprocessing, 'size' | 'channels'>): Promise<DecodedFiles> {
  const per = p.size * p.size * p.channels;
  const results = await Promise.all(files.map((f) => decodeImage(f, p.size, p.channels).catch((e: Error) => e)));
  const ok: number[] = [];
  const failed: DecodedFiles['failed'] = [];
  results.forEach((r, i) => (r instanceof Error ? failed.push({ index: i, reason: r.message.split('\n')[0] }) : ok.push(i)));
  if (ok.length === 0) return { ok, failed };
  const data = new Uint8Array(ok.length * per);
  ok.forEach((i, j) => data.set(results[i] as Uint8Array, j * per));
  return { batch: { data, n: ok.length, height: p.size, width: p.size, channels: p.channels }, ok, failed };
}

/** SHA-256 (hex) of a file's bytes. */
export async function fileSha256(file: string): Promise<string> {
  return createHash('sha256').update(await fs.promises.readFile(file)).digest('hex');
}
