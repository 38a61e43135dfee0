// Checkpoints: every tensor a run needs to continue exactly (weights, batch-norm
// statistics, optimizer slots, method state such as the MoCo queue) plus the
// position in the run. A checkpoint is a folder `ckpt/step-XXXXXXXX/` holding
// `meta.json` and `tensors.bin`; it is written under a temporary name, fsynced
// and renamed, so a crash never leaves a torn checkpoint behind. meta.json holds
// the SHA-256 of tensors.bin: a disk that flips bits or a copy cut short is
// caught on load instead of training on silently wrong weights.
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import { UserError } from '../util/errors.ts';

export const CHECKPOINT_FORMAT = 'selfsup-checkpoint/1';

export type TensorGroup = 'param' | 'state' | 'slot';

export interface TensorEntry { name: string; group: TensorGroup; shape: number[]; offset: number; length: number }

export interface CheckpointMeta {
  format: typeof CHECKPOINT_FORMAT;
  /** Steps completed. */
  step: number;
  /** Epoch the next step belongs to, and batches of it already done. */
  epoch: number;
  batchInEpoch: number;
  method: string;
  /** The resolved recipe the run was started with. */
  recipe: unknown;
  created: string;
  tensors: TensorEntry[];
  /** SHA-256 (hex) and size of tensors.bin. Absent in checkpoints written before checksums existed. */
  checksum?: { sha256: string; bytes: number };
  /** Anything else worth keeping (e.g. the last metrics). */
  extra?: Record<string, unknown>;
}

export interface NamedTensorSource { name: string; group: TensorGroup; tensor: tf.Tensor }

export interface LoadedCheckpoint {
  path: string; meta: CheckpointMeta; tensors: Map<string, Float32Array>;
  /** False for an old checkpoint without a checksum (loaded unverified). */
  verified?: boolean;
}

/** A checkpoint whose files do not match their checksum (or cannot be read whole). Exit 2 like any bad input. */
export class CorruptCheckpointError extends UserError {
  readonly corrupt = true;
  constructor(readonly checkpoint: string, why: string) {
    super(`checkpoint ${checkpoint} is corrupt: ${why}; it was not loaded`);
  }
}

export function isCorruptCheckpoint(e: unknown): e is CorruptCheckpointError {
  return e instanceof CorruptCheckpointError;
}

const STEP_DIR = /^step-(\d{8,})$/;

export function checkpointDirName(step: number): string {
  return `step-${String(step).padStart(8, '0')}`;
}

/** Writes a checkpoint atomically into `ckptRoot` and prunes all but the newest `keep`. Returns its path. */
export async function saveCheckpoint(
  ckptRoot: string, meta: Omit<CheckpointMeta, 'format' | 'tensors' | 'created'>, sources: NamedTensorSource[], keep: number,
): Promise<string> {
  mkdirSync(ckptRoot, { recursive: true });
  const finalDir = join(ckptRoot, checkpointDirName(meta.step));
  const tmpDir = join(ckptRoot, `.tmp-${checkpointDirName(meta.step)}-${process.pid}`);
  rmSync(tmpDir, { recursive: true, force: true });
  mkdirSync(tmpDir);
  try {
    return await writeAndSwap(ckptRoot, finalDir, tmpDir, meta, sources, keep);
  } catch (e) {
    // Nothing was renamed yet (or the swap failed): the previous checkpoints are untouched; drop the partial one.
    rmSync(tmpDir, { recursive: true, force: true });
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      const prev = listCheckpoints(ckptRoot).at(-1);
      (e as Error).message = `writing checkpoint ${finalDir} failed (${(e as Error).message}); ${prev ? `the previous checkpoint ${prev} is intact` : 'no earlier checkpoint exists'}; free some space and continue with --resume`;
    }
    throw e;
  }
}

async function writeAndSwap(
  ckptRoot: string, finalDir: string, tmpDir: string, meta: Omit<CheckpointMeta, 'format' | 'tensors' | 'created'>,
  sources: NamedTensorSource[], keep: number,
): Promise<string> {
  const entries: TensorEntry[] = [];
  const hash = createHash('sha256');
  let offset = 0;
  const fd = openSync(join(tmpDir, 'tensors.bin'), 'w');
  try {
    for (const s of sources) {
      const data = (await s.tensor.data()) as Float32Array;
      const f32 = data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>);
      const bytes = new Uint8Array(f32.buffer, f32.byteOffset, f32.byteLength);
      writeAllSync(fd, bytes);
      hash.update(bytes);
      entries.push({ name: s.name, group: s.group, shape: s.tensor.shape.slice(), offset, length: f32.length });
      offset += f32.byteLength;
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  const full: CheckpointMeta = {
    format: CHECKPOINT_FORMAT, ...meta, created: new Date().toISOString(), tensors: entries,
    checksum: { sha256: hash.digest('hex'), bytes: offset },
  };
  writeFileSynced(join(tmpDir, 'meta.json'), JSON.stringify(full, null, 1));
  if (existsSync(finalDir)) {
    // Same step written again (e.g. a signal right after a scheduled save): swap, never delete first.
    const old = `${finalDir}.old-${process.pid}`;
    renameSync(finalDir, old);
    renameSync(tmpDir, finalDir);
    rmSync(old, { recursive: true, force: true });
  } else {
    renameSync(tmpDir, finalDir);
  }
  fsyncDir(ckptRoot);
  pruneCheckpoints(ckptRoot, keep);
  return finalDir;
}

/** writeSync may write less than asked (e.g. a disk filling up); loop until done or it throws. */
function writeAllSync(fd: number, bytes: Uint8Array): void {
  for (let o = 0; o < bytes.byteLength;) o += writeSync(fd, bytes, o, bytes.byteLength - o);
}

function writeFileSynced(path: string, text: string): void {
  const fd = openSync(path, 'w');
  try { writeAllSync(fd, Buffer.from(text)); fsyncSync(fd); } finally { closeSync(fd); }
}

function fsyncDir(dir: string): void {
  try { const fd = openSync(dir, 'r'); try { fsyncSync(fd); } finally { closeSync(fd); } } catch { /* not supported everywhere */ }
}

/** Complete checkpoints under `ckptRoot`, oldest first. Temporary (torn) folders are ignored. */
export function listCheckpoints(ckptRoot: string): string[] {
  if (!existsSync(ckptRoot)) return [];
  return readdirSync(ckptRoot)
    .filter((d) => STEP_DIR.test(d) && existsSync(join(ckptRoot, d, 'meta.json')))
    .sort()
    .map((d) => join(ckptRoot, d));
}

export function pruneCheckpoints(ckptRoot: string, keep: number): void {
  const all = listCheckpoints(ckptRoot);
  for (const d of all.slice(0, Math.max(0, all.length - keep))) rmSync(d, { recursive: true, force: true });
  for (const d of readdirSync(ckptRoot)) if (d.startsWith('.tmp-')) {
    // Leftovers of a crash in another process; ours was renamed already.
    if (!d.endsWith(`-${process.pid}`)) rmSync(join(ckptRoot, d), { recursive: true, force: true });
  }
}

/**
 * Resolves PATH as given by a user: a checkpoint folder, a run folder (newest
 * checkpoint in its ckpt/) or a ckpt/ folder (newest inside).
 */
export function resolveCheckpointPath(path: string): string | undefined {
  if (!existsSync(path)) throw new UserError(`checkpoint path not found: ${path}`);
  if (!statSync(path).isDirectory()) throw new UserError(`checkpoint path is not a folder: ${path} (expected a run folder, its ckpt/ folder or a ckpt/step-* folder)`);
  if (existsSync(join(path, 'meta.json'))) return path;
  const root = basename(path) === 'ckpt' ? path : join(path, 'ckpt');
  const all = listCheckpoints(root);
  return all[all.length - 1];
}

export function loadCheckpoint(path: string): LoadedCheckpoint {
  const dir = resolveCheckpointPath(path);
  if (!dir) throw new UserError(`no checkpoint found in ${path} (expected ckpt/step-*/meta.json)`);
  return loadCheckpointDir(dir);
}

/** Loads one ckpt/step-* folder, verifying tensors.bin against the checksum in meta.json. */
export function loadCheckpointDir(dir: string): LoadedCheckpoint {
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as CheckpointMeta;
  } catch (e) {
    throw new CorruptCheckpointError(dir, `unreadable meta.json (${(e as Error).message})`);
  }
  if (meta === null || typeof meta !== 'object' || meta.format !== CHECKPOINT_FORMAT) {
    throw new UserError(`${dir}: not a selfsup checkpoint (format ${JSON.stringify(meta?.format)}, expected ${CHECKPOINT_FORMAT})`);
  }
  if (!Array.isArray(meta.tensors)) throw new CorruptCheckpointError(dir, 'meta.json has no tensor table');
  let bin: Buffer;
  try {
    bin = readFileSync(join(dir, 'tensors.bin'));
  } catch (e) {
    throw new CorruptCheckpointError(dir, `tensors.bin unreadable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const sum = meta.checksum;
  if (sum) {
    if (bin.byteLength !== sum.bytes) throw new CorruptCheckpointError(dir, `tensors.bin has ${bin.byteLength} bytes, meta.json says ${sum.bytes}`);
    const got = createHash('sha256').update(bin).digest('hex');
    if (got !== sum.sha256) throw new CorruptCheckpointError(dir, `tensors.bin SHA-256 ${got.slice(0, 12)}... does not match meta.json's ${String(sum.sha256).slice(0, 12)}...`);
  }
  const tensors = new Map<string, Float32Array>();
  for (const e of meta.tensors) {
    if (e.offset + e.length * 4 > bin.byteLength) throw new CorruptCheckpointError(dir, `tensors.bin truncated (tensor '${e.name}' ends past the file)`);
    const copy = new Float32Array(e.length);
    new Uint8Array(copy.buffer).set(bin.subarray(e.offset, e.offset + e.length * 4));
    tensors.set(e.name, copy);
  }
  return { path: dir, meta, tensors, verified: sum !== undefined };
}

/**
 * The newest checkpoint under `ckptRoot` that loads and verifies. Corrupt newer
 * ones are renamed to `corrupt-step-*` (kept for a post-mortem, out of the way
 * of listing and pruning, so a resumed run's new checkpoints are not pruned in
 * their favour) and reported through `warn`. Undefined when there are none at
 * all; a user error naming them when every one is corrupt.
 */
export function loadNewestGoodCheckpoint(ckptRoot: string, warn: (msg: string) => void): LoadedCheckpoint | undefined {
  const all = listCheckpoints(ckptRoot);
  const bad: CorruptCheckpointError[] = [];
  for (let i = all.length - 1; i >= 0; i--) {
    let ck: LoadedCheckpoint;
    try {
      ck = loadCheckpointDir(all[i]);
    } catch (e) {
      if (!isCorruptCheckpoint(e)) throw e;
      bad.push(e);
      continue;
    }
    for (const e of bad) {
      const aside = join(ckptRoot, `corrupt-${basename(e.checkpoint)}`);
      rmSync(aside, { recursive: true, force: true });
      renameSync(e.checkpoint, aside);
      warn(`${e.message}; moved aside to ${aside}; falling back to ${ck.path}`);
    }
    return ck;
  }
  if (bad.length) throw new UserError(`--resume: every checkpoint in ${ckptRoot} is corrupt (${bad.map((e) => e.message).join('; ')}); nothing safe to resume from`);
  return undefined;
}

/**
 * Assigns checkpoint tensors to variables by name, checking that every variable
 * is present with its shape: a checkpoint from another model is a user error
 * naming the first mismatch, and nothing is assigned unless everything matches.
 */
export function restoreVariables(ckpt: LoadedCheckpoint, vars: { name: string; variable: tf.Variable }[]): void {
  const byName = new Map(ckpt.meta.tensors.map((e) => [e.name, e]));
  for (const v of vars) {
    const e = byName.get(v.name);
    if (!e) throw new UserError(`checkpoint ${ckpt.path} does not fit this model: it has no '${v.name}' (made for another model or method? it has ${ckpt.meta.tensors.length} tensors, method ${ckpt.meta.method})`);
    const want = v.variable.shape;
    if (e.shape.length !== want.length || e.shape.some((d, i) => d !== want[i])) {
      throw new UserError(`checkpoint ${ckpt.path} does not fit this model: '${v.name}' has shape [${e.shape}] there, the model expects [${want}]`);
    }
  }
  for (const v of vars) {
    const e = byName.get(v.name)!;
    const data = ckpt.tensors.get(v.name)!;
    tf.tidy(() => v.variable.assign(v.variable.dtype === 'int32' ? tf.tensor(Int32Array.from(data), e.shape, 'int32') : tf.tensor(data, e.shape, 'float32')));
  }
}
