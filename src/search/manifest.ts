// The index folder written by `selfsup embed` and read by search, dedup and the
// web page. Everything is plain files a browser can fetch:
//
//   manifest.json        this file's IndexManifest (the only file ever renamed over)
//   vectors.<g>.f32      [count, dim] little-endian float32, rows L2-normalized
//   ids.<g>.jsonl        one IdEntry per line, row i = line i
//   hnsw.<g>.usearch     the usearch HNSW graph (engine 'hnsw'); keys = row numbers
//
// The manifest names the current files and how many bytes of each are
// committed. Readers use exactly that prefix (an interrupted embed may have
// appended an uncommitted tail; the next embed run truncates it). Files are
// only appended to, or replaced by new generation <g> files that a new
// manifest then names, so a crash at any point leaves the last manifest valid.
import fs from 'node:fs';
import path from 'node:path';
import type { EngineName } from './engine.ts';
import { UserError } from '../util/errors.ts';

export const INDEX_FORMAT = 'selfsup-index';
export const INDEX_VERSION = 1;
export const MANIFEST = 'manifest.json';

/** How an image becomes the backbone's input: decode, resize to cover size x size and centre-crop, then (x/255 - mean) / std. */
export interface Preprocessing {
  size: number;
  channels: number;
  mean: number[];
  std: number[];
  resize: 'cover-centre-crop';
}

/** One row of the index. For image folders id is the path relative to the root ('/'-separated); for recipe data it is split/index. */
export interface IdEntry {
  id: string;
  /** File size in bytes (recipe data: bytes of the decoded pixels). */
  size: number;
  /** File modification time in ms since the epoch (recipe data: 0). */
  mtime: number;
  /** SHA-256 (hex) of the file's bytes (recipe data: of the decoded pixels). */
  sha256: string;
  /** The item's class index, for labelled recipe data. */
  label?: number;
}

export interface EngineState {
  name: EngineName;
  /** Rows [0, count) are in the engine as they are in the vectors file; rows past it still have to be added. */
  count: number;
  /** Keys [0, extent) may exist in the engine (postgres keeps stale keys past count until the next sync removes them). */
  extent: number;
  /** hnsw: the usearch file and its size (checked before it is memory-mapped). */
  file?: string;
  bytes?: number;
  /** hnsw knobs the graph was built with (expansion_search is used when searching). */
  connectivity?: number;
  expansion_add?: number;
  expansion_search?: number;
  /** postgres: the table, and the database URL without its password. */
  table?: string;
  db?: string;
}

export interface ModelInfo {
  /** weightsHash of the backbone (src/eval/guard.ts): SHA-256 over every parameter and batch-norm statistic. */
  fingerprint: string;
  /** Absolute path of the checkpoint folder the backbone came from: how queries get embedded ('' when built with --model from an export that did not record it). */
  checkpoint: string;
  /** Absolute path of the exported TF.js folder the index was built with (embed --model); queries are embedded with it first. */
  model_dir?: string;
  step?: number;
  method?: string;
  recipe?: string;
}

export interface IndexManifest {
  format: typeof INDEX_FORMAT;
  version: typeof INDEX_VERSION;
  model: ModelInfo;
  preprocessing: Preprocessing;
  dim: number;
  /** Committed rows. */
  count: number;
  /** Where the images are: a folder (ids are paths under root) or a recipe's data (ids are split/index). */
  source: { kind: 'folder'; root: string } | { kind: 'recipe'; recipe: string; splits: string[] };
  vectors: { file: string; dtype: 'float32'; byte_order: 'little'; normalized: true; bytes: number };
  ids: { file: string; bytes: number };
  engine: EngineState;
  /** Increases whenever a file is replaced; part of new file names. */
  generation: number;
  updated: string;
}

/** Reads and checks manifest.json; a missing or malformed one is a user error naming it. */
export function readManifest(dir: string): IndexManifest {
  const file = path.join(dir, MANIFEST);
  if (!isDir(dir)) throw new UserError(`${dir}: index folder does not exist; create one with selfsup embed --out ${dir}`);
  let m: IndexManifest;
  try {
    m = JSON.parse(fs.readFileSync(file, 'utf8')) as IndexManifest;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(code === 'ENOENT' ? `${file}: missing; ${dir} is not an index folder (made by selfsup embed)`
      : `${file}: unreadable index manifest (${(e as Error).message.split('\n')[0]})`);
  }
  const bad = (what: string) => new UserError(`${file}: corrupt index manifest (${what})`);
  if (!m || m.format !== INDEX_FORMAT) throw bad(`format ${JSON.stringify(m?.format)}, expected ${INDEX_FORMAT}`);
  if (m.version !== INDEX_VERSION) throw bad(`version ${m.version}, this selfsup reads version ${INDEX_VERSION}`);
  const int = (v: unknown) => Number.isInteger(v) && (v as number) >= 0;
  if (!int(m.dim) || m.dim === 0) throw bad(`dim ${m.dim}`);
  if (!int(m.count)) throw bad(`count ${m.count}`);
  if (typeof m.model?.fingerprint !== 'string' || typeof m.model.checkpoint !== 'string') throw bad('model.fingerprint / model.checkpoint');
  if (m.model.model_dir !== undefined && typeof m.model.model_dir !== 'string') throw bad('model.model_dir');
  const p = m.preprocessing;
  if (!p || !int(p.size) || !(p.channels === 1 || p.channels === 3) || p.mean?.length !== p.channels || p.std?.length !== p.channels) throw bad('preprocessing');
  if (typeof m.vectors?.file !== 'string' || m.vectors.bytes !== m.count * m.dim * 4) throw bad(`vectors.bytes ${m.vectors?.bytes} != count x dim x 4`);
  if (typeof m.ids?.file !== 'string' || !int(m.ids.bytes)) throw bad('ids');
  const e = m.engine;
  if (!e || !['hnsw', 'exact', 'postgres'].includes(e.name) || !int(e.count) || e.count > m.count || !int(e.extent)) throw bad('engine');
  for (const f of [m.vectors.file, m.ids.file, e.file]) if (f !== undefined && (f.includes('/') || f.includes('\\'))) throw bad(`file name ${f}`);
  return m;
}

/** Replaces manifest.json atomically (write, fsync, rename, fsync the folder). */
export function writeManifest(dir: string, m: IndexManifest): void {
  m.updated = new Date().toISOString();
  const file = path.join(dir, MANIFEST);
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, JSON.stringify(m, null, 2) + '\n');
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  syncDir(dir);
}

export function syncDir(dir: string): void {
  // Makes the rename itself durable; some filesystems refuse fsync on folders, which is harmless here.
  try {
    const fd = fs.openSync(dir, 'r');
    try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
  } catch { /* not supported */ }
}

/** The committed vectors, checked against the manifest: too short or not unit rows is a user error naming the file. */
export function readVectors(dir: string, m: IndexManifest): Float32Array {
  const file = path.join(dir, m.vectors.file);
  const bytes = readPrefix(file, m.vectors.bytes);
  const v = new Float32Array(bytes.buffer, bytes.byteOffset, m.count * m.dim);
  // Rows are unit length (or zero, for an image whose features are all zero); anything else means the bytes were damaged.
  for (let r = 0; r < m.count; r++) {
    let ss = 0;
    for (let j = r * m.dim; j < (r + 1) * m.dim; j++) ss += v[j] * v[j];
    if (!(Math.abs(ss - 1) < 1e-3 || ss === 0)) {
      throw new UserError(`${file}: corrupt index vectors (row ${r} has squared norm ${ss}, expected 1); rebuild with selfsup embed`);
    }
  }
  return v;
}

/** The committed id entries, one per row. */
export function readIds(dir: string, m: IndexManifest): IdEntry[] {
  const file = path.join(dir, m.ids.file);
  const text = readPrefix(file, m.ids.bytes).toString('utf8');
  const lines = text.length ? text.split('\n') : [];
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  if (lines.length !== m.count) throw new UserError(`${file}: corrupt index ids (${lines.length} entries, manifest.json says ${m.count})`);
  return lines.map((l, i) => {
    try {
      const e = JSON.parse(l) as IdEntry;
      if (typeof e.id !== 'string' || typeof e.sha256 !== 'string') throw new Error('missing id or sha256');
      return e;
    } catch (err) {
      throw new UserError(`${file}: corrupt index ids (line ${i + 1}: ${(err as Error).message})`);
    }
  });
}

/** The first `bytes` bytes of a file; shorter (or missing) is a user error naming the file. */
export function readPrefix(file: string, bytes: number): Buffer {
  let size: number;
  try { size = fs.statSync(file).size; } catch {
    throw new UserError(`${file}: missing from the index folder (manifest.json names it); rebuild with selfsup embed`);
  }
  if (size < bytes) throw new UserError(`${file}: truncated index file (${size} bytes, manifest.json says ${bytes})`);
  // Its own ArrayBuffer at offset 0, so the bytes can be viewed as float32.
  const buf = Buffer.from(new ArrayBuffer(bytes));
  const fd = fs.openSync(file, 'r');
  try {
    let o = 0;
    while (o < bytes) {
      const n = fs.readSync(fd, buf, o, bytes - o, o);
      if (n === 0) throw new UserError(`${file}: truncated index file`);
      o += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return buf;
}

function isDir(p: string): boolean {
  try { return fs.statSync(p).isDirectory(); } catch { return false; }
}
