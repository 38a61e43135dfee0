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
    const { height, width, channels, order, stride, pixelOffset } = this.layout;
    const per = height * width * channels;
    const out = new Uint8Array(indices.length * per);
    // Non-HWC records are read into scratch and reordered; HWC goes straight to out.
    const scratch = order === 'hwc' ? null : new Uint8Array(indices.length * per);
    const reads: Promise<void>[] = [];
    for (let i = 0; i < indices.length; i++) {
      const j = indices[i];
      if (!(j >= 0 && j < this.n)) throw new RangeError(`${this.name}: index ${j} out of range [0, ${this.n})`);
      const k = this.partOf(j);
      const part = this.parts[k];
      const pos = part.start + (j - this.firstIndex[k]) * stride + pixelOffset;
      reads.push(part.source.readAt(pos, per, scratch ?? out, i * per));
    }
    await Promise.all(reads);
    if (scratch) {
      for (let i = 0; i < indices.length; i++) {
        toHWC(scratch.subarray(i * per, (i + 1) * per), out.subarray(i * per, (i + 1) * per), height, width, channels, order);
      }
    }
    return { data: out, n: indices.length, height, width, channels };
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
