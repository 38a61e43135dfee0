// The two dense products of a softmax-regression SGD step, the only part of
// the linear probe whose cost grows with the feature dimension: batch logits
// Z = X_b W^T and the weight gradient G^T X_b. W has one row per output, and
// the outputs are the classes of one model or of several models fitted side by
// side on the same batches (the weight-decay search: one product serves every
// decay). Everything of size batch x outputs or outputs x dim (softmax, loss,
// momentum, decay) stays in float64 JS in fitSoftmaxRegressions, identical for
// both engines, so the engines differ only in how these two products are
// accumulated:
// - 'js': plain float64 loops, the reference;
// - 'tfjs': tf.matMul in float32 on the active backend (oneDNN on `native`,
//   also cpu / wasm); two products and a handful of small uploads per step.
import * as tf from '@tensorflow/tfjs';
import { nativeActive, nativeBackend } from '../backend/native.ts';

export type ProbeEngineName = 'tfjs' | 'js';

export interface ProbeEngine {
  /** Logits for rows order[from..to) of the fitting set, [m, outputs] row-major into `out`; w is [outputs, dim]. */
  batchLogits(order: Int32Array, from: number, to: number, w: Float64Array, b: Float64Array, out: Float64Array): void;
  /** gw = G^T X_b for the same rows as the last batchLogits call; G is [m, outputs], gw [outputs, dim] (overwritten). */
  weightGrad(g: Float64Array, gw: Float64Array): void;
  /** Logits of every monitor row for a float32 snapshot of the weights, [nMonitor, outputs] row-major. */
  monitorLogits(w: Float32Array, b: Float32Array): Float32Array;
  dispose(): void;
}

export interface EngineData {
  /** Standardized fitting features, [n, dim] row-major. */
  x: Float32Array;
  dim: number;
  /** Rows of W: the classes times the number of models fitted together. */
  outputs: number;
  /** Standardized monitor features, [nMonitor, dim], if a monitor is scored. */
  monitorX?: Float32Array;
  /** Rows per upload in the tfjs engine (default CHUNK_ROWS); small values only for tests of the refills. */
  chunkRows?: number;
}

export function createProbeEngine(name: ProbeEngineName, d: EngineData): ProbeEngine {
  return name === 'js' ? new JsEngine(d) : new TfjsEngine(d);
}

class JsEngine implements ProbeEngine {
  private rows: Int32Array = new Int32Array(0);
  constructor(private readonly d: EngineData) {}

  batchLogits(order: Int32Array, from: number, to: number, w: Float64Array, b: Float64Array, out: Float64Array): void {
    const { x, dim, outputs: c } = this.d;
    this.rows = order.subarray(from, to);
    for (let r = 0; r < this.rows.length; r++) {
      const row = this.rows[r] * dim;
      for (let k = 0; k < c; k++) {
        let z = b[k];
        for (let j = 0; j < dim; j++) z += x[row + j] * w[k * dim + j];
        out[r * c + k] = z;
      }
    }
  }

  weightGrad(g: Float64Array, gw: Float64Array): void {
    const { x, dim, outputs: c } = this.d;
    gw.fill(0);
    for (let r = 0; r < this.rows.length; r++) {
      const row = this.rows[r] * dim;
      for (let k = 0; k < c; k++) {
        const gk = g[r * c + k];
        for (let j = 0; j < dim; j++) gw[k * dim + j] += gk * x[row + j];
      }
    }
  }

  monitorLogits(w: Float32Array, b: Float32Array): Float32Array {
    const { monitorX: mx, dim, outputs: c } = this.d;
    if (!mx) throw new Error('linear probe: no monitor features');
    const n = mx.length / dim;
    const out = new Float32Array(n * c);
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < c; k++) {
        let z = b[k];
        for (let j = 0; j < dim; j++) z += mx[i * dim + j] * w[k * dim + j];
        out[i * c + k] = z;
      }
    }
    return out;
  }

  dispose(): void {}
}

/** Rows gathered per upload: big enough that per-upload overhead vanishes, small enough to bound the extra memory. */
const CHUNK_ROWS = 2048;

class TfjsEngine implements ProbeEngine {
  private xb: tf.Tensor2D | null = null;
  private chunk: tf.Tensor2D | null = null;
  private chunkFrom = 0;
  private chunkTo = 0;
  private readonly chunkBuf: Float32Array;
  /** W^T in float32, [dim, outputs]: uploaded per step so the product is a plain X_b W^T without a transpose flag. */
  private readonly wT: Float32Array;
  /** G^T in float32, [outputs, m] (m <= batch): likewise for G^T X_b. */
  private gT: Float32Array = new Float32Array(0);
  private readonly monitor: tf.Tensor2D | null;
  /** oneDNN thread count to restore on dispose, when this engine lowered it. */
  private restoreThreads: number | null = null;

  constructor(private readonly d: EngineData) {
    // These products are skinny ([256 x dim] x [dim x outputs]): oneDNN's threads cost more to
    // wake than they save, and on a busy 2-core machine their spinning starved the JS thread
    // (measured: 2.6 s vs 0.13 s per 50k x 512 epoch with 2 threads vs 1). One thread for the fit.
    const nb = nativeActive() ? nativeBackend() : null;
    if (nb && nb.addon.getThreads() !== 1) {
      this.restoreThreads = nb.addon.getThreads();
      nb.addon.setThreads(1);
    }
    const n = d.x.length / d.dim;
    this.chunkBuf = new Float32Array(Math.min(n, d.chunkRows ?? CHUNK_ROWS) * d.dim);
    this.wT = new Float32Array(d.outputs * d.dim);
    this.monitor = d.monitorX ? tf.tensor2d(d.monitorX, [d.monitorX.length / d.dim, d.dim]) : null;
  }

  /**
   * Batches are contiguous row slices of a chunk of the shuffled order,
   * gathered on the JS side with row memcpys and uploaded once per chunk: a
   * per-batch upload costs more than the two products, and tf.gather from a
   * resident features tensor is far slower still on the cpu-based backends
   * (measured on native: ~3.5 s per 45k x 512 epoch against ~50 ms for these
   * memcpys). An epoch starts at row 0, so a new shuffle always refills the chunk.
   */
  private rowsFor(order: Int32Array, from: number, to: number): tf.Tensor2D {
    const { x, dim } = this.d;
    if (from === 0 || from < this.chunkFrom || to > this.chunkTo) {
      this.chunk?.dispose();
      const rows = Math.max(to - from, Math.min(order.length - from, this.chunkBuf.length / dim));
      // The previous chunk tensor is disposed, so its buffer can be refilled (a larger one only for a batch over CHUNK_ROWS).
      const buf = rows * dim <= this.chunkBuf.length ? this.chunkBuf.subarray(0, rows * dim) : new Float32Array(rows * dim);
      for (let r = 0; r < rows; r++) {
        const row = order[from + r] * dim;
        buf.set(x.subarray(row, row + dim), r * dim);
      }
      this.chunk = tf.tensor2d(buf, [rows, dim]);
      this.chunkFrom = from;
      this.chunkTo = from + rows;
    }
    const chunk = this.chunk as tf.Tensor2D;
    return tf.slice(chunk, [from - this.chunkFrom, 0], [to - from, dim]);
  }

  batchLogits(order: Int32Array, from: number, to: number, w: Float64Array, b: Float64Array, out: Float64Array): void {
    const { dim, outputs: c } = this.d;
    const m = to - from;
    this.xb?.dispose();
    this.xb = this.rowsFor(order, from, to);
    const xb = this.xb;
    const wT = this.wT;
    for (let k = 0; k < c; k++) for (let j = 0; j < dim; j++) wT[j * c + k] = w[k * dim + j];
    // The tensor borrows wT (the cpu-based backends keep the array itself): it is disposed before wT is refilled.
    const z = tf.tidy(() => tf.matMul(xb, tf.tensor2d(wT, [dim, c])));
    const zs = z.dataSync();
    for (let r = 0; r < m; r++) for (let k = 0; k < c; k++) out[r * c + k] = zs[r * c + k] + b[k];
    z.dispose();
  }

  weightGrad(g: Float64Array, gw: Float64Array): void {
    const c = this.d.outputs;
    const xb = this.xb;
    if (!xb) throw new Error('linear probe: weightGrad before batchLogits');
    const m = xb.shape[0];
    if (this.gT.length < m * c) this.gT = new Float32Array(m * c);
    const gT = this.gT.subarray(0, m * c);
    for (let r = 0; r < m; r++) for (let k = 0; k < c; k++) gT[k * m + r] = g[r * c + k];
    const t = tf.tidy(() => tf.matMul(tf.tensor2d(gT, [c, m]), xb));
    gw.set(t.dataSync());
    t.dispose();
  }

  monitorLogits(w: Float32Array, b: Float32Array): Float32Array {
    const { dim, outputs: c } = this.d;
    const mon = this.monitor;
    if (!mon) throw new Error('linear probe: no monitor features');
    const z = tf.tidy(() => tf.add(tf.matMul(mon, tf.tensor2d(w, [c, dim]), false, true), tf.tensor1d(b)));
    const out = Float32Array.from(z.dataSync()); // copied: the native backend recycles disposed buffers
    z.dispose();
    return out;
  }

  dispose(): void {
    this.xb?.dispose();
    this.xb = null;
    this.chunk?.dispose();
    this.chunk = null;
    this.monitor?.dispose();
    if (this.restoreThreads !== null) nativeBackend()?.addon.setThreads(this.restoreThreads);
    this.restoreThreads = null;
  }
}
