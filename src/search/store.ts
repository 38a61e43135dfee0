// Writing an index folder safely (the format is described in manifest.ts).
// One writer at a time (a lock file naming its owner, src/util/lock.ts). Rows are appended to the
// vectors and ids files, fsynced, and only then counted by a new manifest, so
// a kill -9 anywhere leaves either the old or the new count, never a torn row.
// Dropping rows (deleted or changed images) writes new-generation files and
// switches to them with one manifest rename.
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../util/errors.ts';
import { acquireLock, type HeldLock } from '../util/lock.ts';
import { readIds, readManifest, readVectors, syncDir, writeManifest, MANIFEST, type IdEntry, type IndexManifest } from './manifest.ts';

const LOCK = '.lock';
/** Files this module may create; anything of this shape that the manifest does not name is a leftover of a crash. */
const OWN_FILE = /^(vectors\.\d+\.f32|ids\.\d+\.jsonl|hnsw\.\d+\.usearch|manifest\.json\.\d+\.tmp)$/;

export class IndexStore {
  private vecFd = -1;
  private idsFd = -1;
  private lock?: HeldLock;

  private constructor(readonly dir: string, public manifest: IndexManifest) {}

  /**
   * Opens (or starts) the index in `dir` for writing: takes the lock, cuts
   * uncommitted tails, removes leftovers of interrupted runs. `fresh` is the
   * manifest to start from when the folder holds no index yet.
   */
  static open(dir: string, fresh: () => IndexManifest, log?: (msg: string) => void): IndexStore {
    fs.mkdirSync(dir, { recursive: true });
    const lock = acquireLock(path.join(dir, LOCK), { what: 'index folder', command: 'selfsup embed', log });
    try {
      const exists = fs.existsSync(path.join(dir, MANIFEST));
      const m = exists ? readManifest(dir) : fresh();
      const store = new IndexStore(dir, m);
      store.lock = lock;
      // No manifest until the first batch is committed (append writes it): a run that fails before
      // that (a diverged model, nothing decodable) leaves no index bound to its model.
      if (!exists) {
        fs.writeFileSync(path.join(dir, m.vectors.file), '');
        fs.writeFileSync(path.join(dir, m.ids.file), '');
      }
      store.removeLeftovers();
      store.openFiles();
      return store;
    } catch (e) {
      lock.release();
      throw e;
    }
  }

  rows(): { ids: IdEntry[]; vectors: Float32Array } {
    return { ids: readIds(this.dir, this.manifest), vectors: readVectors(this.dir, this.manifest) };
  }

  /** Appends rows and commits them (data fsynced before the manifest counts them). */
  append(entries: IdEntry[], vectors: Float32Array): void {
    const m = this.manifest;
    if (vectors.length !== entries.length * m.dim) throw new Error(`append: ${vectors.length} floats for ${entries.length} rows of ${m.dim}`);
    const idBytes = Buffer.from(entries.map((e) => JSON.stringify(e) + '\n').join(''));
    writeAll(this.vecFd, Buffer.from(vectors.buffer, vectors.byteOffset, vectors.byteLength), m.vectors.bytes);
    writeAll(this.idsFd, idBytes, m.ids.bytes);
    fs.fsyncSync(this.vecFd);
    fs.fsyncSync(this.idsFd);
    m.count += entries.length;
    m.vectors.bytes += vectors.byteLength;
    m.ids.bytes += idBytes.length;
    writeManifest(this.dir, m);
  }

  /**
   * Keeps only rows `keep` (ascending row numbers) in new-generation files and
   * switches to them; the engine must then be rebuilt (its keys are row numbers).
   */
  compact(keep: number[]): void {
    const m = this.manifest;
    const { ids, vectors } = this.rows();
    const gen = m.generation + 1;
    const vecFile = `vectors.${gen}.f32`;
    const idsFile = `ids.${gen}.jsonl`;
    const kept = new Float32Array(keep.length * m.dim);
    keep.forEach((r, i) => kept.set(vectors.subarray(r * m.dim, (r + 1) * m.dim), i * m.dim));
    const idBytes = Buffer.from(keep.map((r) => JSON.stringify(ids[r]) + '\n').join(''));
    writeDurable(path.join(this.dir, vecFile), Buffer.from(kept.buffer));
    writeDurable(path.join(this.dir, idsFile), idBytes);
    const old = [m.vectors.file, m.ids.file];
    this.closeFiles();
    Object.assign(m, { count: keep.length, generation: gen });
    m.vectors = { ...m.vectors, file: vecFile, bytes: kept.byteLength };
    m.ids = { file: idsFile, bytes: idBytes.length };
    m.engine = { ...m.engine, count: 0, extent: Math.max(m.engine.extent, m.engine.count) };
    writeManifest(this.dir, m);
    for (const f of old) fs.rmSync(path.join(this.dir, f), { force: true });
    this.openFiles();
  }

  /**
   * Gives an index with no rows another model and source (nothing in it was made by the old
   * ones). The engine state is kept: its extent still says which stale keys a postgres table may hold.
   */
  rebind(to: Pick<IndexManifest, 'model' | 'preprocessing' | 'dim' | 'source'>): void {
    const m = this.manifest;
    if (m.count !== 0) throw new Error(`rebind: ${this.dir} holds ${m.count} rows`);
    Object.assign(m, { model: to.model, preprocessing: to.preprocessing, dim: to.dim, source: to.source });
    if (fs.existsSync(path.join(this.dir, MANIFEST))) writeManifest(this.dir, m);
  }

  /** A fresh name for the HNSW graph's next save (generation bumped, committed with the next manifest). */
  nextGraphFile(): string {
    this.manifest.generation += 1;
    return `hnsw.${this.manifest.generation}.usearch`;
  }

  /** Commits new engine state, then deletes the engine file it replaces. */
  commitEngine(state: IndexManifest['engine']): void {
    const old = this.manifest.engine.file;
    this.manifest.engine = state;
    writeManifest(this.dir, this.manifest);
    if (old && old !== state.file) fs.rmSync(path.join(this.dir, old), { force: true });
  }

  close(): void {
    this.closeFiles();
    this.lock?.release();
  }

  private openFiles(): void {
    const m = this.manifest;
    const vec = path.join(this.dir, m.vectors.file);
    const ids = path.join(this.dir, m.ids.file);
    for (const [f, bytes] of [[vec, m.vectors.bytes], [ids, m.ids.bytes]] as const) {
      const size = fs.existsSync(f) ? fs.statSync(f).size : -1;
      if (size < bytes) throw new UserError(`${f}: truncated index file (${size < 0 ? 'missing' : `${size} bytes`}, manifest.json says ${bytes}); delete the index folder and embed again`);
      // An interrupted run may have written past the committed length.
      if (size > bytes) fs.truncateSync(f, bytes);
    }
    this.vecFd = fs.openSync(vec, 'r+');
    this.idsFd = fs.openSync(ids, 'r+');
  }

  private closeFiles(): void {
    if (this.vecFd >= 0) fs.closeSync(this.vecFd);
    if (this.idsFd >= 0) fs.closeSync(this.idsFd);
    this.vecFd = this.idsFd = -1;
  }

  private removeLeftovers(): void {
    const named = new Set([MANIFEST, this.manifest.vectors.file, this.manifest.ids.file, this.manifest.engine.file]);
    for (const f of fs.readdirSync(this.dir)) {
      if (OWN_FILE.test(f) && !named.has(f)) fs.rmSync(path.join(this.dir, f), { force: true });
    }
  }
}

function writeAll(fd: number, buf: Buffer, position: number): void {
  let o = 0;
  while (o < buf.length) o += fs.writeSync(fd, buf, o, buf.length - o, position + o);
}

/** Writes a whole file and fsyncs it (the caller commits it by naming it in a manifest). */
export function writeDurable(file: string, data: Buffer): void {
  const fd = fs.openSync(file, 'w');
  try {
    writeAll(fd, data, 0);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  syncDir(path.dirname(file));
}
