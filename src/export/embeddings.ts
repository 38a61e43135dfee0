// Embeddings of a dataset under a frozen backbone, as raw little-endian files
// plus an index.json describing them, for downstream search.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Module } from '../models/module.ts';
import type { Dataset } from '../data/types.ts';
import { extractFeatures, scaleToUnit, type EvalTransform, type FeatureSet } from '../eval/features.ts';

export const EMBEDDINGS_INDEX = 'index.json';
export const EMBEDDINGS_FILE = 'embeddings.f32';
export const LABELS_FILE = 'labels.i32';

/** Contents of index.json, which describes the raw files next to it. */
export interface EmbeddingsIndex {
  format: 'selfsup-embeddings';
  version: 1;
  count: number;
  dim: number;
  /** Row-major [count, dim] little-endian float32. */
  embeddings: string;
  dtype: 'float32';
  byteOrder: 'little';
  /** [count] little-endian int32, or null for unlabelled data. */
  labels: string | null;
  /** Rows are L2-normalized (cosine similarity = dot product). */
  normalized: boolean;
  dataset?: string;
  classNames?: string[];
  metadata?: Record<string, unknown>;
}

function leBytes(a: Float32Array | Int32Array): Buffer {
  if (os.endianness() !== 'LE') throw new Error('export: embeddings are written little-endian; big-endian hosts are not supported');
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** Writes a feature matrix (+ labels) and its index.json into `outDir`. */
export function writeEmbeddings(
  set: FeatureSet, outDir: string,
  info: { normalized: boolean; dataset?: string; classNames?: string[]; metadata?: Record<string, unknown> },
): { files: string[]; index: EmbeddingsIndex } {
  if (set.features.length !== set.n * set.dim) throw new Error(`writeEmbeddings: ${set.features.length} floats for ${set.n} x ${set.dim}`);
  if (set.labels && set.labels.length !== set.n) throw new Error(`writeEmbeddings: ${set.labels.length} labels for ${set.n} rows`);
  fs.mkdirSync(outDir, { recursive: true });
  const index: EmbeddingsIndex = {
    format: 'selfsup-embeddings', version: 1, count: set.n, dim: set.dim,
    embeddings: EMBEDDINGS_FILE, dtype: 'float32', byteOrder: 'little',
    labels: set.labels ? LABELS_FILE : null, normalized: info.normalized,
    ...(info.dataset !== undefined ? { dataset: info.dataset } : {}),
    ...(info.classNames ? { classNames: info.classNames } : {}),
    ...(info.metadata ? { metadata: info.metadata } : {}),
  };
  const files: [string, Buffer][] = [[EMBEDDINGS_FILE, leBytes(set.features)]];
  if (set.labels) files.push([LABELS_FILE, leBytes(set.labels)]);
  files.push([EMBEDDINGS_INDEX, Buffer.from(JSON.stringify(index, null, 2) + '\n')]);
  const written = files.map(([name, data]) => {
    const file = path.join(outDir, name);
    fs.writeFileSync(file, data);
    return path.resolve(file);
  });
  return { files: written, index };
}

/** Reads what writeEmbeddings wrote. */
export function readEmbeddings(dir: string): { index: EmbeddingsIndex; embeddings: Float32Array; labels?: Int32Array } {
  const index = JSON.parse(fs.readFileSync(path.join(dir, EMBEDDINGS_INDEX), 'utf8')) as EmbeddingsIndex;
  if (index.format !== 'selfsup-embeddings' || index.version !== 1) throw new Error(`${dir}: not a selfsup embeddings folder`);
  const f = fs.readFileSync(path.join(dir, index.embeddings));
  const embeddings = new Float32Array(f.buffer.slice(f.byteOffset, f.byteOffset + f.byteLength));
  if (embeddings.length !== index.count * index.dim) throw new Error(`${dir}: ${index.embeddings} holds ${embeddings.length} floats, index says ${index.count} x ${index.dim}`);
  let labels: Int32Array | undefined;
  if (index.labels) {
    const l = fs.readFileSync(path.join(dir, index.labels));
    labels = new Int32Array(l.buffer.slice(l.byteOffset, l.byteOffset + l.byteLength));
  }
  return { index, embeddings, labels };
}

export interface ExportEmbeddingsOptions {
  /** Eval transform (uint8 batch -> float NHWC); default scales to [0, 1]. */
  transform?: EvalTransform;
  batchSize?: number;
  /** L2-normalize rows (default false: raw features, as the backbone outputs them). */
  normalize?: boolean;
  metadata?: Record<string, unknown>;
}

/** Runs the frozen backbone over `dataset` and writes its embeddings, labels and index.json into `outDir`. */
export async function exportEmbeddings(
  backbone: Module, dataset: Dataset, outDir: string, opts: ExportEmbeddingsOptions = {},
): Promise<{ files: string[]; index: EmbeddingsIndex }> {
  const normalize = opts.normalize ?? false;
  const set = await extractFeatures(backbone, dataset, opts.transform ?? scaleToUnit, { batchSize: opts.batchSize ?? 256, normalize });
  return writeEmbeddings(set, outDir, { normalized: normalize, dataset: dataset.name, classNames: dataset.classNames, metadata: opts.metadata });
}
