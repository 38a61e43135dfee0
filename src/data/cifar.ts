// CIFAR-10 / CIFAR-100 binary versions. Each record is the label byte(s) then a
// 32x32x3 image stored plane by plane (1024 R, 1024 G, 1024 B bytes).
//   CIFAR-10:  <label> <3072 pixels>            data_batch_1..5.bin, test_batch.bin
//   CIFAR-100: <coarse> <fine> <3072 pixels>    train.bin, test.bin
// Pixels stay in the files and are read per batch; the labels are read once.
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../util/errors.ts';
import { FileSource } from './bytes.ts';
import { RecordDataset, type RecordPart } from './records.ts';

export type CifarVariant = 'cifar10' | 'cifar100';
export type CifarLabelMode = 'fine' | 'coarse';

const PIXELS = 32 * 32 * 3;

interface VariantInfo {
  subfolder: string;
  labelBytes: number;
  files: (dir: string) => Record<'train' | 'test', string[]>;
  classes: (mode: CifarLabelMode) => { count: number; namesFile: string };
}

const VARIANTS: Record<CifarVariant, VariantInfo> = {
  cifar10: {
    subfolder: 'cifar-10-batches-bin',
    labelBytes: 1,
    files: (dir) => ({ train: dataBatches(dir), test: [path.join(dir, 'test_batch.bin')] }),
    classes: () => ({ count: 10, namesFile: 'batches.meta.txt' }),
  },
  cifar100: {
    subfolder: 'cifar-100-binary',
    labelBytes: 2,
    files: (dir) => ({ train: [path.join(dir, 'train.bin')], test: [path.join(dir, 'test.bin')] }),
    classes: (mode) => mode === 'fine'
      ? { count: 100, namesFile: 'fine_label_names.txt' }
      : { count: 20, namesFile: 'coarse_label_names.txt' },
  },
};

export const CIFAR_SPLITS = ['train', 'test'] as const;

/** The folder holding the .bin files: `dir` itself or the subfolder the archive unpacks to. */
export function cifarFolder(variant: CifarVariant, dir: string): string {
  const sub = path.join(dir, VARIANTS[variant].subfolder);
  return fs.existsSync(sub) ? sub : dir;
}

export function openCifar(variant: CifarVariant, dir: string, split: 'train' | 'test', mode: CifarLabelMode = 'fine'): RecordDataset {
  const info = VARIANTS[variant];
  const folder = cifarFolder(variant, dir);
  const files = info.files(folder)[split];
  const stride = info.labelBytes + PIXELS;
  const { count: nClasses, namesFile } = info.classes(mode);
  // CIFAR-100 records hold (coarse, fine); CIFAR-10 records just the label.
  const labelAt = variant === 'cifar100' && mode === 'fine' ? 1 : 0;
  const parts: RecordPart[] = [];
  const labelChunks: Int32Array[] = [];
  try {
    for (const f of files) {
      if (!fs.existsSync(f)) {
        throw new UserError(`data.path: ${f} does not exist; expected the ${variant} binary version (${split} files: ${files.map((x) => path.basename(x)).join(', ')}) in ${dir}`);
      }
      const source = new FileSource(f);
      parts.push({ source, start: 0, count: source.size / stride });
      if (source.size === 0 || source.size % stride !== 0) {
        throw new UserError(`${f}: ${source.size} bytes is not a whole number of ${variant} records; expected a multiple of ${stride} bytes (${info.labelBytes} label byte${info.labelBytes > 1 ? 's' : ''} + ${PIXELS} pixels; 10000 records in the official files)`);
      }
      labelChunks.push(readLabels(source, stride, labelAt, nClasses, variant, mode));
    }
  } catch (e) {
    for (const p of parts) p.source.close();
    throw e;
  }
  const labels = new Int32Array(labelChunks.reduce((a, c) => a + c.length, 0));
  let o = 0;
  for (const c of labelChunks) { labels.set(c, o); o += c.length; }
  const name = `${variant}:${split}`;
  return new RecordDataset(name, parts,
    { height: 32, width: 32, channels: 3, order: 'chw', stride, pixelOffset: info.labelBytes },
    labels, classNames(path.join(folder, namesFile), nClasses));
}

function dataBatches(dir: string): string[] {
  let names: string[] = [];
  try { names = fs.readdirSync(dir); } catch { /* reported as a missing file below */ }
  const batches = names
    .filter((f) => /^data_batch_\d+\.bin$/.test(f))
    .sort((a, b) => Number(a.match(/\d+/)![0]) - Number(b.match(/\d+/)![0]));
  // None found: name the first expected file in the error.
  return (batches.length ? batches : ['data_batch_1.bin']).map((f) => path.join(dir, f));
}

/** Reads the label byte of every record, a chunk of records at a time. */
function readLabels(source: FileSource, stride: number, at: number, nClasses: number, variant: string, mode: string): Int32Array {
  const n = source.size / stride;
  const labels = new Int32Array(n);
  const perChunk = 1024;
  const buf = new Uint8Array(perChunk * stride);
  for (let first = 0; first < n; first += perChunk) {
    const count = Math.min(perChunk, n - first);
    source.readSyncAt(first * stride, count * stride, buf, 0);
    for (let r = 0; r < count; r++) {
      const l = buf[r * stride + at];
      if (l >= nClasses) {
        throw new UserError(`${source.name}: record ${first + r} has label ${l}; expected 0..${nClasses - 1} for ${variant}${variant === 'cifar100' ? ` (${mode} labels)` : ''}. Is this the right dataset?`);
      }
      labels[first + r] = l;
    }
  }
  return labels;
}

/** Class names from the archive's text file, one per line; indices when it is absent. */
export function classNames(file: string, count: number): string[] {
  let lines: string[] = [];
  if (fs.existsSync(file)) lines = fs.readFileSync(file, 'utf8').split(/\r?\n/).map((s) => s.trim()).filter(Boolean);
  return lines.length === count ? lines : Array.from({ length: count }, (_, i) => String(i));
}
