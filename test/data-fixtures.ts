// Tiny dataset files written by the data tests themselves: every pixel is a
// known function of (image, y, x, channel), so a test can say which byte must
// come back where after a format's own layout (planar, column-major...) is undone.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import sharp from 'sharp';
import type { DataConfig } from '../src/recipe/sections/data.ts';

export function tempDir(label: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `selfsup-${label}-`));
}

/** The test pattern: a byte that differs across images, rows, columns and channels. */
export function px(i: number, y: number, x: number, c: number): number {
  return (i * 37 + y * 11 + x * 5 + c * 71 + 3) % 256;
}

/** The expected HWC image i of size h x w x ch. */
export function hwc(i: number, h: number, w: number, ch: number): Uint8Array {
  const out = new Uint8Array(h * w * ch);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < ch; c++) out[(y * w + x) * ch + c] = px(i, y, x, c);
  return out;
}

export function writeIdx(file: string, dims: number[], data: Uint8Array, gzip: boolean): void {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = 0x08;
  head[3] = dims.length;
  dims.forEach((d, k) => head.writeUInt32BE(d, 4 + 4 * k));
  const bytes = Buffer.concat([head, Buffer.from(data)]);
  fs.writeFileSync(file, gzip ? zlib.gzipSync(bytes) : bytes);
}

/** CIFAR records: label byte(s) then R, G, B planes of 32x32. `first` offsets the pattern's image index. */
export function cifarRecords(labels: number[][], first: number): Buffer {
  const per = labels[0].length + 3072;
  const buf = Buffer.alloc(labels.length * per);
  labels.forEach((ls, r) => {
    const o = r * per;
    ls.forEach((l, k) => (buf[o + k] = l));
    for (let c = 0; c < 3; c++) for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) {
      buf[o + ls.length + c * 1024 + y * 32 + x] = px(first + r, y, x, c);
    }
  });
  return buf;
}

/** STL-10 images: R, G, B planes of 96x96, each column-major. */
export function stlImages(n: number, first: number): Buffer {
  const buf = Buffer.alloc(n * 27648);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) for (let x = 0; x < 96; x++) for (let y = 0; y < 96; y++) {
    buf[i * 27648 + c * 9216 + x * 96 + y] = px(first + i, y, x, c);
  }
  return buf;
}

/** Writes image i of the pattern as a PNG (lossless) or JPEG file. */
export async function writeImage(file: string, i: number, h: number, w: number, format: 'png' | 'jpeg' = 'png'): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const img = sharp(Buffer.from(hwc(i, h, w, 3)), { raw: { width: w, height: h, channels: 3 } });
  await (format === 'png' ? img.png() : img.jpeg({ quality: 95 })).toFile(file);
}

/** A full data section with the schema's defaults, overridden by `over`. */
export function dataConfig(over: Partial<DataConfig>): DataConfig {
  return {
    source: 'mnist', path: '', image_size: 28, channels: 1, test_fraction: 0.2, limit_train: 0, limit_test: 0,
    pretrain: 'auto', eval_train: 'auto', eval_test: 'auto', label_mode: 'fine', labels: 'auto', glob: '', cache: '', strict: false, exclude_classes: [],
    sampler: 'random', m_per_class: 4, class_split: 'none',
    ...over,
  };
}

/** Image k of a batch. */
export function imageAt(data: Uint8Array, k: number, per: number): Uint8Array {
  return data.subarray(k * per, (k + 1) * per);
}

/** Byte-exact equality without vitest's huge array diffs: names the first differing byte. */
export function sameBytes(got: Uint8Array, want: Uint8Array): string {
  if (got.length !== want.length) return `length ${got.length} != ${want.length}`;
  for (let i = 0; i < got.length; i++) if (got[i] !== want[i]) return `byte ${i}: ${got[i]} != ${want[i]}`;
  return 'same';
}
