// The `exact` engine: brute-force cosine over every stored row, in tiles, with
// the k-NN evaluator's own nearestNeighbours. It is the ground truth the
// approximate engines are measured against, and fast enough for small indexes.
import { nearestNeighbours } from '../eval/knn.ts';
import type { EngineHits, IndexEngine } from './engine.ts';

export class ExactEngine implements IndexEngine {
  readonly name = 'exact' as const;
  private data: Float32Array;
  /** 1 where a key holds a vector; keys are row numbers, so removed ones leave gaps until re-added. */
  private present: Uint8Array;
  /** Keys [0, extent) have storage. */
  private extent = 0;
  private live = 0;

  /** `rows` ([n * dim], optional) become keys 0..n-1 without a copy. */
  constructor(readonly dim: number, rows?: Float32Array) {
    if (rows && rows.length % dim !== 0) throw new Error(`ExactEngine: ${rows.length} floats is not a multiple of dim ${dim}`);
    this.data = rows ?? new Float32Array(0);
    this.extent = this.live = this.data.length / dim;
    this.present = new Uint8Array(this.extent).fill(1);
  }

  async count(): Promise<number> { return this.live; }

  async add(keys: Int32Array, vectors: Float32Array): Promise<void> {
    if (vectors.length !== keys.length * this.dim) throw new Error(`add: ${vectors.length} floats for ${keys.length} keys of dim ${this.dim}`);
    let top = this.extent;
    for (const k of keys) {
      if (!(k >= 0)) throw new Error(`add: key ${k} is not a row number`);
      top = Math.max(top, k + 1);
    }
    this.grow(top);
    keys.forEach((k, i) => {
      this.data.set(vectors.subarray(i * this.dim, (i + 1) * this.dim), k * this.dim);
      if (!this.present[k]) { this.present[k] = 1; this.live++; }
    });
  }

  async remove(keys: Int32Array): Promise<void> {
    for (const k of keys) {
      if (k >= 0 && k < this.extent && this.present[k]) {
        this.present[k] = 0;
        this.live--;
        this.data.fill(0, k * this.dim, (k + 1) * this.dim);
      }
    }
  }

  async search(queries: Float32Array, k: number): Promise<EngineHits> {
    if (queries.length % this.dim !== 0) throw new Error(`search: ${queries.length} floats is not a multiple of dim ${this.dim}`);
    const nq = queries.length / this.dim;
    const kk = Math.min(k, this.live);
    const keys = new Int32Array(nq * kk).fill(-1);
    const scores = new Float32Array(nq * kk);
    if (kk === 0 || nq === 0) return { k: kk, keys, scores };
    // Removed keys are zero rows; ask for enough extra neighbours to skip them.
    const gaps = this.extent - this.live;
    const nb = await nearestNeighbours(this.data.subarray(0, this.extent * this.dim), queries, this.dim, Math.min(this.extent, kk + gaps));
    for (let q = 0; q < nq; q++) {
      let o = 0;
      for (let j = 0; j < nb.k && o < kk; j++) {
        const key = nb.indices[q * nb.k + j];
        if (!this.present[key]) continue;
        keys[q * kk + o] = key;
        scores[q * kk + o] = nb.sims[q * nb.k + j];
        o++;
      }
    }
    return { k: kk, keys, scores };
  }

  /** The vectors file is the exact engine's whole state: nothing else to write. */
  async save(): Promise<void> {}

  async close(): Promise<void> {}

  private grow(rows: number): void {
    if (rows <= this.extent) return;
    const cap = Math.max(rows, Math.ceil(this.data.length / this.dim * 1.5));
    if (cap * this.dim > this.data.length) {
      const d = new Float32Array(cap * this.dim);
      d.set(this.data.subarray(0, this.extent * this.dim));
      this.data = d;
      const p = new Uint8Array(cap);
      p.set(this.present.subarray(0, this.extent));
      this.present = p;
    }
    this.extent = rows;
  }
}
