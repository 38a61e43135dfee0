// The decode cache: an image folder is decoded and resized once into a packed
// uint8 file (<name>.u8, n x size x size x channels) with a JSON sidecar
// (<name>.json: shape, labels, skipped files). Later epochs and later runs read
// records from it at offsets. The name carries a hash of the source files'
// paths, sizes and mtimes plus the size/channels, so any change makes a new one.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../util/errors.ts';
import { FileSource } from './bytes.ts';
import { decodeImage, type FolderSplit } from './folder.ts';
import { RecordDataset } from './records.ts';

const VERSION = 1;

export interface CacheMeta {
  version: number;
  key: string;
  root: string;
  n: number;
  height: number;
  width: number;
  channels: number;
  labels?: number[];
  classNames?: string[];
  /** Files that could not be decoded (left out of the cache). */
  skipped: { file: string; reason: string }[];
}

export interface CacheOptions {
  cacheDir: string;
  size: number;
  channels: number;
  /** Stop at the first undecodable image (exit 2) instead of skipping it. */
  strict: boolean;
  log: (msg: string) => void;
  /** Images decoded at once while building (each is held until written in order). */
  concurrency?: number;
}

/** The split as a dataset over its decode cache, building the cache first if needed. */
export async function openCachedFolder(name: string, split: FolderSplit, opts: CacheOptions): Promise<RecordDataset> {
  const key = cacheKey(split, opts);
  const stem = `${slug(split.root)}-${crypto.createHash('sha256').update(split.root).digest('hex').slice(0, 8)}-${opts.size}x${opts.size}x${opts.channels}`;
  const base = path.join(opts.cacheDir, `${stem}-${key.slice(0, 16)}`);
  let meta = readMeta(base, key);
  if (meta) {
    opts.log(`data: ${name}: reading ${meta.n} decoded images from cache ${base}.u8`);
  } else {
    meta = await buildCache(base, stem, key, split, opts);
  }
  if (meta.skipped.length > 0) {
    if (opts.strict) throw new UserError(`${meta.skipped[0].file}: cannot decode image (${meta.skipped[0].reason}); data.strict is true`);
    opts.log(`data: ${name}: ${meta.skipped.length} of ${meta.n + meta.skipped.length} images skipped as undecodable (first: ${meta.skipped[0].file})`);
  }
  if (meta.n === 0) throw new UserError(`${name}: no image in ${split.root} could be decoded`);
  const source = new FileSource(`${base}.u8`);
  return new RecordDataset(name, [{ source, start: 0, count: meta.n }],
    { height: meta.height, width: meta.width, channels: meta.channels, order: 'hwc', stride: meta.height * meta.width * meta.channels, pixelOffset: 0 },
    meta.labels ? Int32Array.from(meta.labels) : undefined, meta.classNames);
}

export function cacheKey(split: FolderSplit, opts: Pick<CacheOptions, 'size' | 'channels'>): string {
  const h = crypto.createHash('sha256');
  h.update(JSON.stringify({ v: VERSION, root: split.root, size: opts.size, channels: opts.channels, classes: split.classNames ?? null }));
  for (const e of split.entries) h.update(`\n${e.file}\t${e.size}\t${e.mtimeMs}\t${e.label}`);
  return h.digest('hex');
}

function readMeta(base: string, key: string): CacheMeta | null {
  try {
    const meta = JSON.parse(fs.readFileSync(`${base}.json`, 'utf8')) as CacheMeta;
    const bytes = fs.statSync(`${base}.u8`).size;
    if (meta.version !== VERSION || meta.key !== key || bytes !== meta.n * meta.height * meta.width * meta.channels) return null;
    return meta;
  } catch {
    return null;
  }
}

async function buildCache(base: string, stem: string, key: string, split: FolderSplit, opts: CacheOptions): Promise<CacheMeta> {
  fs.mkdirSync(opts.cacheDir, { recursive: true });
  const { size, channels } = opts;
  const total = split.entries.length;
  opts.log(`data: decoding ${total} images from ${split.root} into cache ${base}.u8`);
  const tmp = `${base}.${process.pid}.tmp`;
  const fd = fs.openSync(`${tmp}.u8`, 'w');
  const labels: number[] = [];
  const skipped: CacheMeta['skipped'] = [];
  const started = Date.now();
  try {
    const writer = new BufferedWriter(fd);
    // Decode ahead in a window, write in order: at most `window` decoded images in memory.
    const window = Math.max(1, opts.concurrency ?? 8);
    const pending: Promise<Uint8Array | Error>[] = [];
    const start = (i: number) => pending.push(decodeImage(split.entries[i].file, size, channels).catch((e: Error) => e));
    for (let i = 0; i < Math.min(window, total); i++) start(i);
    let nextReport = Date.now() + 10_000;
    for (let i = 0; i < total; i++) {
      const result = await pending.shift()!;
      if (i + window < total) start(i + window);
      const e = split.entries[i];
      if (result instanceof Error) {
        const reason = result.message.split('\n')[0];
        if (opts.strict) throw new UserError(`${e.file}: cannot decode image (${reason}); data.strict is true`);
        skipped.push({ file: e.file, reason });
        if (skipped.length <= 20) opts.log(`data: warning: skipping undecodable image ${e.file} (${reason}) [${skipped.length} skipped so far]`);
        continue;
      }
      writer.write(result);
      if (split.classNames) labels.push(e.label);
      if (Date.now() > nextReport) {
        opts.log(`data: decoded ${i + 1} / ${total} images`);
        nextReport = Date.now() + 10_000;
      }
    }
    writer.flush();
    fs.closeSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(`${tmp}.u8`, { force: true });
    throw e;
  }
  const meta: CacheMeta = {
    version: VERSION, key, root: split.root, n: total - skipped.length, height: size, width: size, channels,
    labels: split.classNames ? labels : undefined, classNames: split.classNames, skipped,
  };
  fs.writeFileSync(`${tmp}.json`, JSON.stringify(meta));
  // Pixels first, then the sidecar: a cache counts as present only once both are complete.
  removeStale(opts.cacheDir, stem, base);
  fs.renameSync(`${tmp}.u8`, `${base}.u8`);
  fs.renameSync(`${tmp}.json`, `${base}.json`);
  opts.log(`data: cached ${meta.n} images (${((meta.n * size * size * channels) / 2 ** 20).toFixed(1)} MiB) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return meta;
}

/** Deletes caches of the same folder and shape built from older versions of its files. */
function removeStale(dir: string, stem: string, keep: string): void {
  for (const f of fs.readdirSync(dir)) {
    const full = path.join(dir, f);
    if (!/\.(u8|json)$/.test(f) || !f.startsWith(`${stem}-`) || full.startsWith(keep)) continue;
    if (/^[0-9a-f]{16}\.(u8|json)$/.test(f.slice(stem.length + 1))) fs.rmSync(full, { force: true });
  }
}

function slug(root: string): string {
  const tail = root.split(path.sep).filter(Boolean).slice(-2).join('-') || 'root';
  return tail.replace(/[^A-Za-z0-9_.-]+/g, '_').slice(0, 60);
}

/** Appends to a file descriptor in 4 MiB writes. */
class BufferedWriter {
  private buf = new Uint8Array(4 << 20);
  private used = 0;
  constructor(private readonly fd: number) {}

  write(bytes: Uint8Array): void {
    if (this.used + bytes.length > this.buf.length) this.flush();
    if (bytes.length > this.buf.length) { fs.writeSync(this.fd, bytes); return; }
    this.buf.set(bytes, this.used);
    this.used += bytes.length;
  }

  flush(): void {
    let o = 0;
    while (o < this.used) o += fs.writeSync(this.fd, this.buf, o, this.used - o);
    this.used = 0;
  }
}
