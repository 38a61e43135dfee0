// IDX, the MNIST file format (also Fashion-MNIST, KMNIST, EMNIST): a 4-byte magic
// (0, 0, type, ndims), ndims big-endian uint32 sizes, then the data. Only the
// unsigned-byte type (0x08) holds images and labels. `.gz` files are inflated
// into memory once; raw files are read at offsets.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { UserError } from '../util/errors.ts';
import { BufferSource, FileSource, type ByteSource } from './bytes.ts';
import { RecordDataset } from './records.ts';

const UBYTE = 0x08;

export interface IdxHeader { dims: number[]; dataOffset: number }

/** Opens an IDX file as a byte source (inflating `.gz`) and checks its header and size. */
export function openIdx(file: string, expectDims: number[]): { source: ByteSource; header: IdxHeader } {
  let source: ByteSource;
  if (file.endsWith('.gz')) {
    let bytes: Uint8Array;
    try {
      bytes = zlib.gunzipSync(readFileOrThrow(file));
    } catch (e) {
      if (e instanceof UserError) throw e;
      throw new UserError(`${file}: not a valid gzip file (${(e as Error).message})`);
    }
    source = new BufferSource(file, bytes);
  } else {
    source = new FileSource(file);
  }
  const head = new Uint8Array(4 + 4 * 4);
  const avail = Math.min(head.length, source.size);
  source.readSyncAt(0, avail, head, 0);
  const want = expectDims.map((d) => `0x0${d}`).join(' or ');
  if (avail < 4 || head[0] !== 0 || head[1] !== 0 || head[2] !== UBYTE || !expectDims.includes(head[3])) {
    source.close();
    const got = Array.from(head.subarray(0, Math.min(4, avail)), (b) => '0x' + b.toString(16).padStart(2, '0')).join(' ');
    throw new UserError(`${file}: wrong IDX magic number ${got || '(empty file)'}; expected 0x00 0x00 0x08 followed by ${want} (unsigned bytes, ${expectDims.join(' or ')} dimensions)`);
  }
  const ndims = head[3];
  const dataOffset = 4 + 4 * ndims;
  if (avail < dataOffset) {
    source.close();
    throw new UserError(`${file}: truncated IDX header (${source.size} bytes; expected at least ${dataOffset})`);
  }
  const view = new DataView(head.buffer);
  const dims = Array.from({ length: ndims }, (_, i) => view.getUint32(4 + 4 * i, false));
  const expected = dataOffset + dims.reduce((a, b) => a * b, 1);
  if (source.size !== expected) {
    source.close();
    throw new UserError(`${file}: ${source.size} bytes, but its IDX header (sizes ${dims.join(' x ')}) needs exactly ${expected}; the file is truncated or not IDX`);
  }
  return { source, header: { dims, dataOffset } };
}

/** An images file (n x rows x cols [x channels]) and optionally its labels file. */
export async function openIdxDataset(name: string, imagesPath: string, labelsPath?: string): Promise<RecordDataset> {
  const { source, header } = openIdx(imagesPath, [3, 4]);
  const [n, height, width, channels = 1] = header.dims;
  if (channels !== 1 && channels !== 3) {
    source.close();
    throw new UserError(`${imagesPath}: ${channels} channels per pixel; expected 1 or 3`);
  }
  let labels: Int32Array | undefined;
  if (labelsPath) {
    const lab = openIdx(labelsPath, [1]);
    try {
      if (lab.header.dims[0] !== n) {
        throw new UserError(`${labelsPath}: ${lab.header.dims[0]} labels, but ${imagesPath} has ${n} images; expected the same count`);
      }
      const bytes = new Uint8Array(n);
      await lab.source.readAt(lab.header.dataOffset, n, bytes, 0);
      labels = Int32Array.from(bytes);
    } finally {
      lab.source.close();
    }
  }
  const stride = height * width * channels;
  return new RecordDataset(name, [{ source, start: header.dataOffset, count: n }],
    { height, width, channels, order: 'hwc', stride, pixelOffset: 0 }, labels);
}

/** The image and label files of each split found in a folder, by their MNIST-style names. */
export function findIdxFiles(dir: string): Record<'train' | 'test', { images?: string; labels?: string }> {
  const found: Record<'train' | 'test', { images?: string; labels?: string }> = { train: {}, test: {} };
  let names: string[];
  try {
    names = fs.readdirSync(dir).sort();
  } catch {
    throw new UserError(`data.path: ${dir} is not a readable folder; expected one holding IDX files such as train-images-idx3-ubyte.gz`);
  }
  // train-images-idx3-ubyte, t10k-labels-idx1-ubyte.gz, emnist-digits-train-images-idx3-ubyte ...
  const re = /(train|t10k|test)-(images|labels)[-.]idx([13])-ubyte(\.gz)?$/;
  for (const f of names) {
    const m = re.exec(f);
    if (!m) continue;
    const split = m[1] === 'train' ? 'train' : 'test';
    const kind = m[2] as 'images' | 'labels';
    const prev = found[split][kind];
    // Prefer the raw file over its .gz twin (no inflate needed); two different sets are ambiguous.
    const bare = (p: string) => path.basename(p).replace(/\.gz$/, '');
    if (prev && bare(prev) !== bare(f)) {
      throw new UserError(`data.path: ${dir} holds two ${split} ${kind} IDX files (${path.basename(prev)}, ${f}); keep one set per folder`);
    }
    if (!prev || prev.endsWith('.gz')) found[split][kind] = path.join(dir, f);
  }
  return found;
}

function readFileOrThrow(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new UserError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
}
