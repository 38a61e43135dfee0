// Image folders: ImageFolder-style class subfolders (label = folder name) or a
// flat folder of unlabelled images, in any format sharp reads. Files are listed
// here and decoded by sharp, resized to cover the recipe's size and centre-cropped.
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { UserError } from '../util/errors.ts';
import { DecodeGate, oneLine } from './decode-gate.ts';
import { globToRegExp } from './glob.ts';
import { convertChannels } from './resize.ts';
import type { Dataset, ImageBatch } from './types.ts';

export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif', '.heic', '.heif'];

export type FolderLabels = 'auto' | 'folders' | 'none';

/** One image file of a split: its path and the facts the decode cache is keyed by. */
export interface ImageEntry { file: string; size: number; mtimeMs: number; label: number }

export interface FolderSplit {
  /** The split's root folder. */
  root: string;
  entries: ImageEntry[];
  /** Present when labels come from class subfolders; entries then hold indices into it. */
  classNames?: string[];
}

export interface ListOptions {
  /** Images to use, relative to `base` (a list or a text file with one per line); default: every image under `base`. */
  files?: string | string[];
  /** A pattern on paths relative to `base`, e.g. `** /*.png` (without the space). */
  glob?: string;
}

/** Every image path under `base` (relative, '/'-separated, sorted) that the options select. */
export function listImages(base: string, opts: ListOptions): string[] {
  if (!isDir(base)) throw new UserError(`data.path: ${base} is not a folder; expected a folder of images or of class subfolders`);
  let rels: string[];
  if (opts.files !== undefined) {
    const listed = typeof opts.files === 'string' ? readList(opts.files) : opts.files;
    rels = listed.map((f) => {
      const abs = path.resolve(base, f);
      const rel = path.relative(base, abs).split(path.sep).join('/');
      if (rel.startsWith('../') || path.isAbsolute(rel)) throw new UserError(`data.files: ${f} is outside data.path ${base}; list files under it`);
      if (!fs.existsSync(abs)) throw new UserError(`data.files: listed image ${abs} does not exist`);
      return rel;
    });
  } else {
    rels = [];
    walk(base, '', rels);
  }
  if (opts.glob) {
    const re = globToRegExp(opts.glob);
    rels = rels.filter((r) => re.test(r));
  }
  return [...new Set(rels)].sort();
}

/**
 * The images of one split: those under `sub` (relative to `base`; '.' = all).
 * With labels 'auto', the split is labelled when every image sits in a class subfolder.
 */
export function folderSplit(base: string, sub: string, rels: string[], labels: FolderLabels, describe: string): FolderSplit {
  const root = path.resolve(base, sub);
  const prefix = sub === '.' || sub === '' ? '' : path.relative(base, root).split(path.sep).join('/') + '/';
  const mine = rels.filter((r) => r.startsWith(prefix)).map((r) => r.slice(prefix.length));
  if (mine.length === 0) {
    throw new UserError(`${describe}: no images in ${root}; expected image files (${IMAGE_EXTENSIONS.join(' ')}) or class subfolders of them`
      + (isDir(root) ? '' : ' (the folder does not exist)'));
  }
  const loose = mine.filter((r) => !r.includes('/'));
  if (labels === 'folders' && loose.length > 0) {
    throw new UserError(`${describe}: ${path.join(root, loose[0])} is not inside a class subfolder; with data.labels: folders every image must be in <class>/`);
  }
  const labelled = labels === 'folders' || (labels === 'auto' && loose.length === 0);
  const classNames = labelled ? [...new Set(mine.map((r) => r.split('/')[0]))].sort() : undefined;
  const classIndex = new Map(classNames?.map((c, i) => [c, i]));
  const entries = mine.map((r) => {
    const file = path.join(root, r);
    const st = statOrEmpty(file);
    return { file, size: st.size, mtimeMs: st.mtimeMs, label: labelled ? classIndex.get(r.split('/')[0])! : -1 };
  });
  return { root, entries, classNames };
}

/**
 * Size and mtime of a listed file; a symlink loop or a dangling link gives size
 * -1 instead of throwing, and its decode then fails with the reason (one
 * skipped image, not a crashed listing).
 */
export function statOrEmpty(file: string): { size: number; mtimeMs: number } {
  try { return fs.statSync(file); } catch { return { size: -1, mtimeMs: 0 }; }
}

/**
 * Decodes one image file to uint8 HWC at size x size (cover + centre crop), 1 or 3 channels.
 * EXIF orientation is applied (photos come out upright), only the first frame of an
 * animation is read, 16-bit and CMYK images are converted to 8-bit sRGB, and sharp's
 * pixel limit (~268 megapixels) refuses decompression bombs from their header alone.
 * A failure's message is one line and names this file's reason (see decode-gate.ts).
 */
export async function decodeImage(file: string, size: number, channels: number): Promise<Uint8Array> {
  try {
    return await gate.shared(() => decodeWith(file, size, channels));
  } catch {
    // sharp calls a symlink loop "missing"; say what the file system says.
    try { fs.statSync(file); } catch (s) { throw new Error(`${(s as NodeJS.ErrnoException).code ?? 'unreadable'}: ${(s as Error).message.split(',')[0]}`); }
    try {
      return await gate.alone(() => decodeWith(file, size, channels));
    } catch (e) {
      throw new Error(oneLine((e as Error).message));
    }
  }
}

/** The process's one libvips error buffer makes this process-wide too. */
const gate = new DecodeGate();

async function decodeWith(file: string, size: number, channels: number): Promise<Uint8Array> {
  let img = sharp(file, { failOn: 'truncated' }).rotate().resize(size, size, { fit: 'cover', position: 'centre' });
  img = channels === 1 ? img.toColourspace('b-w') : img.removeAlpha().toColourspace('srgb');
  const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
  let px = new Uint8Array(data.buffer, data.byteOffset, data.length);
  let c = info.channels as number;
  if (c === 2 || c === 4) px = dropAlpha(px, size * size, c), c -= 1;
  if (c !== channels) px = convertChannels(px, size * size, c, channels);
  return px;
}

/** A split decoded on every read (no cache): for benchmarks and one-off looks. */
export class FolderDataset implements Dataset {
  readonly n: number;
  readonly labels?: Int32Array;
  readonly classNames?: string[];

  constructor(readonly name: string, private readonly split: FolderSplit, readonly height: number, readonly channels: number) {
    this.n = split.entries.length;
    this.classNames = split.classNames;
    if (split.classNames) this.labels = Int32Array.from(split.entries, (e) => e.label);
  }

  get width(): number { return this.height; }

  async read(indices: ArrayLike<number>): Promise<ImageBatch> {
    const per = this.height * this.width * this.channels;
    const out = new Uint8Array(indices.length * per);
    await Promise.all(Array.from(indices, async (j, i) => {
      const e = this.split.entries[j];
      if (!e) throw new RangeError(`${this.name}: index ${j} out of range [0, ${this.n})`);
      try {
        out.set(await decodeImage(e.file, this.height, this.channels), i * per);
      } catch (err) {
        throw new UserError(`${e.file}: cannot decode image (${(err as Error).message})`);
      }
    }));
    return { data: out, n: indices.length, height: this.height, width: this.width, channels: this.channels };
  }
}

function dropAlpha(px: Uint8Array, pixels: number, c: number): Uint8Array {
  const out = new Uint8Array(pixels * (c - 1));
  for (let p = 0; p < pixels; p++) for (let k = 0; k < c - 1; k++) out[p * (c - 1) + k] = px[p * c + k];
  return out;
}

function walk(base: string, rel: string, out: string[]): void {
  const dir = path.join(base, rel);
  for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
    if (d.name.startsWith('.')) continue;
    const r = rel ? `${rel}/${d.name}` : d.name;
    if (d.isDirectory()) walk(base, r, out);
    else if ((d.isFile() || d.isSymbolicLink()) && IMAGE_EXTENSIONS.includes(path.extname(d.name).toLowerCase())) out.push(r);
  }
}

function readList(file: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UserError(`data.files: cannot read the list ${file} (${(e as NodeJS.ErrnoException).code ?? String(e)}); expected a text file with one image path per line`);
  }
  return text.split(/\r?\n/).map((s) => s.trim()).filter((s) => s && !s.startsWith('#'));
}

function isDir(p: string): boolean {
  try { return fs.statSync(p).isDirectory(); } catch { return false; }
}
