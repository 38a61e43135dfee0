// A Dataset held in one packed Uint8Array: small sets (embedded MNIST, tests).
import type { Dataset, ImageBatch } from './types.ts';

export class MemoryDataset implements Dataset {
  readonly n: number;
  constructor(
    readonly name: string,
    private readonly pixels: Uint8Array,
    readonly height: number,
    readonly width: number,
    readonly channels: number,
    readonly labels?: Int32Array,
    readonly classNames?: string[],
  ) {
    const per = height * width * channels;
    if (pixels.length % per !== 0) throw new Error(`${name}: ${pixels.length} bytes is not a multiple of ${per}`);
    this.n = pixels.length / per;
    if (labels && labels.length !== this.n) throw new Error(`${name}: ${labels.length} labels for ${this.n} images`);
  }

  read(indices: ArrayLike<number>): ImageBatch {
    const per = this.height * this.width * this.channels;
    const out = new Uint8Array(indices.length * per);
    for (let i = 0; i < indices.length; i++) {
      const j = indices[i];
      if (j < 0 || j >= this.n) throw new RangeError(`${this.name}: index ${j} out of range [0, ${this.n})`);
      out.set(this.pixels.subarray(j * per, (j + 1) * per), i * per);
    }
    return { data: out, n: indices.length, height: this.height, width: this.width, channels: this.channels };
  }

  /** A view of some of the items (copying their pixels), e.g. for train/test splits. */
  subset(name: string, indices: ArrayLike<number>): MemoryDataset {
    const b = this.read(indices);
    const labels = this.labels ? Int32Array.from(indices, (j) => this.labels![j]) : undefined;
    return new MemoryDataset(name, b.data, this.height, this.width, this.channels, labels, this.classNames);
  }
}
