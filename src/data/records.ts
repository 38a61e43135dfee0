// Datasets whose images are fixed-size records in binary files (CIFAR, STL-10,
// IDX, the decode cache). Records are read from disk per batch, so a 2.7 GB
// split costs no JS memory; only labels are held.
import type { ByteSource } from './bytes.ts';
import type { Dataset, ImageBatch } from './types.ts';

/** How a record's pixels are ordered on disk. */
export type PixelOrder =
  | 'hwc'          // row-major, channels interleaved (IDX, decode cache)
  | 'chw'          // one plane per channel, each row-major (CIFAR)
  | 'chw-colmajor'; // one plane per channel, each column-major (STL-10)

export interface RecordLayout {
  height: number;
  width: number;
  channels: number;
  order: PixelOrder;
  /** Bytes from one record's start to the next. */
  stride: number;
  /** Offset of the pixels inside a record (CIFAR puts label bytes first). */
  pixelOffset: number;
}

/** A run of `count` records in one source, starting at byte `start`. */
export interface RecordPart { source: ByteSource; start: number; count: number }

export class RecordDataset implements Dataset {
  readonly n: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  private readonly firstIndex: number[];

  constructor(
    readonly name: string,
    private readonly parts: RecordPart[],
    private readonly layout: RecordLayout,
    readonly labels?: Int32Array,
    readonly classNames?: string[],
  ) {
    ({ height: this.height, width: this.width, channels: this.channels } = layout);
    this.firstIndex = [];
    let n = 0;
    for (const p of parts) { this.firstIndex.push(n); n += p.count; }
    this.n = n;
    if (labels && labels.length !== n) throw new Error(`${name}: ${labels.length} labels for ${n} images`);
  }

  async read(indices: ArrayLike<number>): Promise<ImageBatch> {
    const { height, width, channels } = this.layout;
    const per = height * width * channels;
    const out = new Uint8Array(indices.length * per);
    // Consecutive indices (in-order evaluation passes) become one read per run;
    // a shuffled batch is mostly runs of one record.
    const reads: Promise<void>[] = [];
    for (let i = 0; i < indices.length;) {
      const j = indices[i];
      if (!(j >= 0 && j < this.n)) throw new RangeError(`${this.name}: index ${j} out of range [0, ${this.n})`);
      const k = this.partOf(j);
      const part = this.parts[k];
      const last = this.firstIndex[k] + part.count - 1;
      let len = 1;
      while (i + len < indices.length && indices[i + len] === j + len && j + len <= last) len++;
      reads.push(this.readRun(part, j - this.firstIndex[k], len, out, i * per));
      i += len;
    }
    await Promise.all(reads);
    return { data: out, n: indices.length, height, width, channels };
  }

  /** Reads `len` records from `part` starting at record `r` into `out` at `at`, as HWC pixels. */
  private async readRun(part: RecordPart, r: number, len: number, out: Uint8Array, at: number): Promise<void> {
    const { height, width, channels, order, stride, pixelOffset } = this.layout;
    const per = height * width * channels;
    const pos = part.start + r * stride;
    if (order === 'hwc' && (stride === per || len === 1)) {
      await part.source.readAt(pos + pixelOffset, len === 1 ? per : len * stride, out, at);
      return;
    }
    const raw = new Uint8Array(len * stride);
    await part.source.readAt(pos, (len - 1) * stride + pixelOffset + per, raw, 0);
    for (let q = 0; q < len; q++) {
      const src = raw.subarray(q * stride + pixelOffset, q * stride + pixelOffset + per);
      toHWC(src, out.subarray(at + q * per, at + (q + 1) * per), height, width, channels, order);
    }
  }

  close(): void {
    for (const p of new Set(this.parts.map((q) => q.source))) p.close();
  }

  private partOf(j: number): number {
    let lo = 0;
    let hi = this.firstIndex.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.firstIndex[mid] <= j) lo = mid; else hi = mid - 1;
    }
    return lo;
  }
}

/** Reorders one image from a planar layout to HWC. */
export function toHWC(src: Uint8Array, dst: Uint8Array, h: number, w: number, c: number, order: PixelOrder): void {
  if (order === 'hwc') { dst.set(src); return; }
  const plane = h * w;
  // Source steps along x and y: row-major planes step 1 along x, column-major ones h.
  const sx = order === 'chw' ? 1 : h;
  const sy = order === 'chw' ? w : 1;
  for (let ch = 0; ch < c; ch++) {
    const base = ch * plane;
    for (let y = 0; y < h; y++) {
      let s = base + y * sy;
      let d = y * w * c + ch;
      for (let x = 0; x < w; x++, s += sx, d += c) dst[d] = src[s];
    }
  }
}
