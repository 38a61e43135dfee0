// Protocol guards. Evaluation numbers are only meaningful if the backbone was
// truly frozen and the test split was never trained on; these checks make the
// two most common silent mistakes (a probe that updates the encoder, a probe
// fitted on test data) loud errors instead of inflated scores.
import { createHash } from 'node:crypto';
import type { Module } from '../models/module.ts';
import { allVariables } from '../models/module.ts';

/**
 * SHA-256 over every parameter and buffer (names, shapes and float bytes), in module order.
 * Async: weights trained on a GPU backend (webgpu in Node) can only be read back asynchronously.
 */
export async function weightsHash(m: Module): Promise<string> {
  const vars = allVariables(m);
  return digest(vars, await Promise.all(vars.map((v) => v.variable.data())));
}

/**
 * weightsHash for a module whose weights were just loaded from host memory (a checkpoint,
 * an exported model): there every backend still holds the values on the host, so a
 * synchronous read is a copy, never a GPU read-back. Loaders that must stay synchronous use it.
 */
export function weightsHashOfLoaded(m: Module): string {
  const vars = allVariables(m);
  return digest(vars, vars.map((v) => v.variable.dataSync()));
}

function digest(vars: ReturnType<typeof allVariables>, values: ArrayLike<unknown>[]): string {
  const h = createHash('sha256');
  vars.forEach((v, i) => {
    h.update(`${v.name}|${v.variable.shape.join('x')}|${v.variable.dtype};`);
    const data = values[i] as Float32Array | Int32Array;
    h.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  });
  return h.digest('hex');
}

export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/** Throws if the backbone's weights (or batch-norm statistics) differ from the hash taken before. */
export async function assertWeightsUnchanged(m: Module, before: string, during: string): Promise<void> {
  const after = await weightsHash(m);
  if (after !== before) {
    throw new ProtocolError(`backbone weights changed during ${during} (hash ${before.slice(0, 12)} -> ${after.slice(0, 12)}); `
      + 'evaluation must use a frozen backbone');
  }
}

/** Which labelled split a feature set came from; probes only fit on 'train'. */
export type SplitRole = 'train' | 'val' | 'test';

/** Refuses to fit a probe on anything but the train split (or a part of it). */
export function assertFitSplit(role: SplitRole | undefined, what: string): void {
  if (role === 'test') throw new ProtocolError(`${what}: refusing to train on the test split`);
}

/**
 * Fraction of `test` rows that also occur, bit for bit, among the `train` rows.
 * A handful of exact duplicates can be genuine; most of them means the test
 * split was passed as training data.
 */
export function exactOverlap(train: Float32Array, test: Float32Array, dim: number): number {
  const nTest = test.length / dim;
  if (nTest === 0) return 0;
  // Bucket train rows by a 32-bit hash of their bits, then confirm candidates exactly:
  // memory stays one number per train row however wide the features are.
  const trBits = new Uint32Array(train.buffer, train.byteOffset, train.length);
  const teBits = new Uint32Array(test.buffer, test.byteOffset, test.length);
  const buckets = new Map<number, number[]>();
  for (let i = 0; i < train.length / dim; i++) {
    const h = rowHash(trBits, i * dim, dim);
    const b = buckets.get(h);
    if (b) b.push(i); else buckets.set(h, [i]);
  }
  let dup = 0;
  for (let i = 0; i < nTest; i++) {
    const cands = buckets.get(rowHash(teBits, i * dim, dim));
    if (cands?.some((j) => rowsEqual(trBits, j * dim, teBits, i * dim, dim))) dup++;
  }
  return dup / nTest;
}

/** FNV-1a over 32-bit words. */
function rowHash(bits: Uint32Array, off: number, dim: number): number {
  let h = 0x811c9dc5;
  for (let j = 0; j < dim; j++) h = Math.imul(h ^ bits[off + j], 0x01000193) >>> 0;
  return h;
}

function rowsEqual(a: Uint32Array, ao: number, b: Uint32Array, bo: number, dim: number): boolean {
  for (let j = 0; j < dim; j++) if (a[ao + j] !== b[bo + j]) return false;
  return true;
}

/** Throws when the train features contain most of the test features (test data in the fit set). */
export function assertNoTestLeak(train: Float32Array, test: Float32Array, dim: number, maxOverlap = 0.5): number {
  const overlap = train === test ? 1 : exactOverlap(train, test, dim);
  if (overlap > maxOverlap) {
    throw new ProtocolError(`${(overlap * 100).toFixed(1)}% of the test items also appear in the probe's training data; `
      + 'refusing to train on the test split');
  }
  return overlap;
}
