// The frozen backbone that turns images into index vectors: rebuilt from a
// checkpoint exactly as `selfsup export` / `selfsup eval` do, run in eval mode
// with the checkpoint recipe's own eval transform (size, channels, mean/std),
// rows L2-normalized. Its fingerprint (weightsHash) ties an index to it.
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { backboneFromCheckpoint, recipeForCheckpoint } from '../cli/export.ts';
import { decodeImage } from '../data/folder.ts';
import type { ImageBatch } from '../data/types.ts';
import { weightsHash } from '../eval/guard.ts';
import { l2normalize } from '../eval/knn.ts';
import type { EvalTransform } from '../eval/features.ts';
import { disposeModule, type Backbone } from '../models/module.ts';
import type { Recipe } from '../recipe/index.ts';
import { buildAugmenter } from '../train/augmenter.ts';
import { loadCheckpoint } from '../train/checkpoint.ts';
import { UserError } from '../util/errors.ts';
import type { ModelInfo, Preprocessing } from './manifest.ts';

export interface Embedder {
  readonly model: ModelInfo;
  readonly preprocessing: Preprocessing;
  readonly dim: number;
  /** The recipe the backbone was trained with (its data section says how recipe-sourced indexes were read). */
  readonly recipe: Recipe;
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
  if (src.model !== undefined) {
    // The exported model.json records input shape and backbone config but not the recipe's normalization
    // nor a fingerprint comparable to a checkpoint's, so queries could not be checked against the index.
    throw new UserError(`--model ${src.model}: embedding with an exported TF.js model is not supported yet; pass the checkpoint it was exported from with --checkpoint`);
  }
  if (!src.checkpoint) throw new UserError('embed: give the model with --checkpoint PATH');
  const ck = loadCheckpoint(src.checkpoint);
  const recipe = recipeForCheckpoint(ck, undefined, []);
  const backbone = backboneFromCheckpoint(ck, recipe);
  const channels = recipe.data.channels;
  const aug = buildAugmenter(recipe, channels);
  return new CheckpointEmbedder(backbone, aug.evalTransform, recipe, {
    fingerprint: weightsHash(backbone), checkpoint: path.resolve(ck.path), step: ck.meta.step, method: ck.meta.method, recipe: recipe.name,
  }, {
    size: recipe.data.image_size, channels, mean: [...aug.augmenter.mean], std: [...aug.augmenter.std], resize: 'cover-centre-crop',
  });
}

class CheckpointEmbedder implements Embedder {
  readonly dim: number;
  constructor(
    private readonly backbone: Backbone, private readonly transform: EvalTransform, readonly recipe: Recipe,
    readonly model: ModelInfo, readonly preprocessing: Preprocessing,
  ) {
    this.dim = backbone.featureDim;
  }

  async embed(batch: ImageBatch): Promise<Float32Array> {
    const out = tf.tidy(() => this.backbone.apply(this.transform(batch), false).reshape([batch.n, -1]) as tf.Tensor2D);
    try {
      if (out.shape[1] !== this.dim) throw new Error(`embed: backbone gave ${out.shape[1]} features, expected ${this.dim}`);
      return l2normalize((await out.data()) as Float32Array, this.dim);
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
