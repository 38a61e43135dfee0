// Datasets made from other datasets without copying pixels: a subset of items,
// a concatenation of splits, and a fitted view at the recipe's size/channels.
import { convertChannels, Resizer } from './resize.ts';
import type { Dataset, ImageBatch } from './types.ts';

/** Items `indices` of `base`, in that order. */
export class SubsetDataset implements Dataset {
  readonly n: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly labels?: Int32Array;
  readonly classNames?: string[];

  constructor(readonly name: string, private readonly base: Dataset, private readonly indices: Int32Array) {
    ({ height: this.height, width: this.width, channels: this.channels, classNames: this.classNames } = base);
    this.n = indices.length;
    if (base.labels) this.labels = Int32Array.from(indices, (j) => base.labels![j]);
  }

  read(indices: ArrayLike<number>): ImageBatch | Promise<ImageBatch> {
    const mapped = new Int32Array(indices.length);
    for (let i = 0; i < indices.length; i++) {
      const j = indices[i];
      if (!(j >= 0 && j < this.n)) throw new RangeError(`${this.name}: index ${j} out of range [0, ${this.n})`);
      mapped[i] = this.indices[j];
    }
    return this.base.read(mapped);
  }

  close(): void { this.base.close?.(); }
}

/** Splits one after another (e.g. STL-10 train+unlabeled); labels only if every part has them. */
export class ConcatDataset implements Dataset {
  readonly n: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly labels?: Int32Array;
  readonly classNames?: string[];
  private readonly starts: number[] = [];

  constructor(readonly name: string, private readonly parts: Dataset[]) {
    const first = parts[0];
    ({ height: this.height, width: this.width, channels: this.channels } = first);
    let n = 0;
    for (const p of parts) {
      if (p.height !== first.height || p.width !== first.width || p.channels !== first.channels) {
        throw new Error(`${name}: parts differ in shape (${p.name})`);
      }
      this.starts.push(n);
      n += p.n;
    }
    this.n = n;
    if (parts.every((p) => p.labels)) {
      this.labels = new Int32Array(n);
      parts.forEach((p, k) => this.labels!.set(p.labels!, this.starts[k]));
      this.classNames = parts.find((p) => p.classNames)?.classNames;
    }
  }

  async read(indices: ArrayLike<number>): Promise<ImageBatch> {
    const per = this.height * this.width * this.channels;
    const out = new Uint8Array(indices.length * per);
    // One read per part, then scatter back to the requested order.
    const byPart: { pos: number[]; idx: number[] }[] = this.parts.map(() => ({ pos: [], idx: [] }));
    for (let i = 0; i < indices.length; i++) {
      const j = indices[i];
      if (!(j >= 0 && j < this.n)) throw new RangeError(`${this.name}: index ${j} out of range [0, ${this.n})`);
      let k = this.starts.length - 1;
      while (this.starts[k] > j) k--;
      byPart[k].pos.push(i);
      byPart[k].idx.push(j - this.starts[k]);
    }
    await Promise.all(byPart.map(async ({ pos, idx }, k) => {
      if (idx.length === 0) return;
      const b = await this.parts[k].read(idx);
      pos.forEach((i, r) => out.set(b.data.subarray(r * per, (r + 1) * per), i * per));
    }));
    return { data: out, n: indices.length, height: this.height, width: this.width, channels: this.channels };
  }

  close(): void { for (const p of this.parts) p.close?.(); }
}

/** `base` resized (cover + centre crop) and converted to `channels`, image by image at read time. */
export class FittedDataset implements Dataset {
  readonly n: number;
  readonly labels?: Int32Array;
  readonly classNames?: string[];
  private resizer?: Resizer;

  constructor(
    readonly name: string,
    private readonly base: Dataset,
    readonly height: number,
    readonly width: number,
    readonly channels: number,
  ) {
    ({ n: this.n, labels: this.labels, classNames: this.classNames } = base);
  }

  async read(indices: ArrayLike<number>): Promise<ImageBatch> {
    const b = await this.base.read(indices);
    const per = this.height * this.width * this.channels;
    const inPer = b.height * b.width * b.channels;
    const out = new Uint8Array(b.n * per);
    for (let i = 0; i < b.n; i++) {
      let img = b.data.subarray(i * inPer, (i + 1) * inPer);
      let c = b.channels;
      // Convert to gray before resizing (less work); to RGB after.
      if (c === 3 && this.channels === 1) { img = convertChannels(img, b.height * b.width, 3, 1); c = 1; }
      if (b.height !== this.height || b.width !== this.width) img = this.resizerFor(b.height, b.width, c).run(img);
      out.set(convertChannels(img, this.height * this.width, c, this.channels), i * per);
    }
    return { data: out, n: b.n, height: this.height, width: this.width, channels: this.channels };
  }

  close(): void { this.base.close?.(); }

  private resizerFor(h: number, w: number, c: number): Resizer {
    const r = this.resizer;
    if (r && r.h === h && r.w === w && r.c === c) return r;
    return (this.resizer = new Resizer(h, w, c, this.height, this.width));
  }
}

/** `ds` at the given size/channels: itself when it already matches. */
export function fitDataset(ds: Dataset, height: number, width: number, channels: number): Dataset {
  if (ds.height === height && ds.width === width && ds.channels === channels) return ds;
  return new FittedDataset(ds.name, ds, height, width, channels);
}
