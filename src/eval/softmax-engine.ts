// The two dense products of a softmax-regression SGD step, the only part of
// the linear probe whose cost grows with the feature dimension: batch logits
// Z = X_b W^T and the weight gradient G^T X_b. W has one row per output, and
// the outputs are the classes of one model or of several models fitted side by
// side on the same batches (the weight-decay search: one product serves every
// decay). Everything of size batch x outputs or outputs x dim (softmax, loss,
// momentum, decay) stays in float64 JS in fitSoftmaxRegressions, identical for
// every engine, so the engines differ only in how these two products are
// accumulated:
// - 'js': plain float64 loops, the reference;
// - 'tfjs': float32 products on the active TF.js backend. On `native` they go
//   straight to the backend's oneDNN matmul on the JS arrays (the same call
//   its BatchMatMul kernel makes, without the tensor bookkeeping, which cost
//   more than the products themselves: ~0.19 ms of ~0.26 ms per step at
//   256 x 512 x 10); elsewhere (cpu, wasm, webgpu) they are tf.matMul.
import * as tf from '@tensorflow/tfjs';
import { nativeActive, nativeBackend } from '../backend/native.ts';
import type { NativeAddon } from '../backend/native-addon.ts';

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
  /** Rows per upload in the tensor path (default CHUNK_ROWS); small values only for tests of the refills. */
  chunkRows?: number;
  /** 'tfjs' on native: false forces the tf.matMul path (for tests comparing the two). Default true. */
  direct?: boolean;
}

export function createProbeEngine(name: ProbeEngineName, d: EngineData): ProbeEngine {
  if (name === 'js') return new JsEngine(d);
  const nb = nativeActive() ? nativeBackend() : null;
  return nb && d.direct !== false ? new NativeEngine(d, nb.addon) : new TensorEngine(d);
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

/** Copies rows order[from..to) of x into out (row memcpys: per row, a subarray + set beats an element loop ~3x). */
function gatherRows(x: Float32Array, dim: number, order: Int32Array, from: number, to: number, out: Float32Array): void {
  for (let r = from; r < to; r++) {
    const row = order[r] * dim;
    out.set(x.subarray(row, row + dim), (r - from) * dim);
  }
}

/**
 * What both float32 engines share: W^T and G^T in float32 laid out so that
 * both products are plain row-major [m, k] x [k, n] (no transpose flags),
 * float64 <-> float32 at the boundary, the bias added in float64, and one
 * oneDNN thread while a fit runs.
 */
abstract class Float32Engine implements ProbeEngine {
  /** W^T in float32, [dim, outputs]. */
  protected readonly wT: Float32Array;
  /** G^T in float32, [outputs, m] for the current batch of m rows. */
  private gTBuf = new Float32Array(0);
  protected rowsInBatch = 0;
  private restoreThreads: number | null = null;

  constructor(protected readonly d: EngineData) {
    // These products are skinny ([256 x dim] x [dim x outputs]): oneDNN's threads cost more to
    // wake than they save, and on a busy 2-core machine their spinning starved the JS thread
    // (measured: 2.6 s vs 0.13 s per 50k x 512 epoch with 2 threads vs 1). One thread for the fit.
    const nb = nativeActive() ? nativeBackend() : null;
    if (nb && nb.addon.getThreads() !== 1) {
      this.restoreThreads = nb.addon.getThreads();
      nb.addon.setThreads(1);
    }
    this.wT = new Float32Array(d.outputs * d.dim);
  }

  /** Gathers the batch's rows and returns z = X_b W^T ([m, outputs], float32) from the filled wT. */
  protected abstract logits(order: Int32Array, from: number, to: number): ArrayLike<number>;
  /** G^T X_b ([outputs, dim], float32) for the last batch, given gT = G^T [outputs, m]. */
  protected abstract gradProduct(gT: Float32Array): ArrayLike<number>;
  abstract monitorLogits(w: Float32Array, b: Float32Array): Float32Array;
  protected abstract release(): void;

  batchLogits(order: Int32Array, from: number, to: number, w: Float64Array, b: Float64Array, out: Float64Array): void {
    const { dim, outputs: c } = this.d;
    const wT = this.wT;
    for (let k = 0; k < c; k++) for (let j = 0; j < dim; j++) wT[j * c + k] = w[k * dim + j];
    const m = to - from;
    this.rowsInBatch = m;
    const zs = this.logits(order, from, to);
    for (let r = 0; r < m; r++) for (let k = 0; k < c; k++) out[r * c + k] = zs[r * c + k] + b[k];
  }

  weightGrad(g: Float64Array, gw: Float64Array): void {
    const c = this.d.outputs;
    const m = this.rowsInBatch;
    if (m === 0) throw new Error('linear probe: weightGrad before batchLogits');
    if (this.gTBuf.length < m * c) this.gTBuf = new Float32Array(m * c);
    const gT = this.gTBuf.subarray(0, m * c);
    for (let r = 0; r < m; r++) for (let k = 0; k < c; k++) gT[k * m + r] = g[r * c + k];
    const p = this.gradProduct(gT);
    for (let i = 0; i < gw.length; i++) gw[i] = p[i];
  }

  dispose(): void {
    this.release();
    if (this.restoreThreads !== null) nativeBackend()?.addon.setThreads(this.restoreThreads);
    this.restoreThreads = null;
  }
}

/**
 * The native backend's oneDNN matmul called on the JS arrays themselves.
 * Each batch is gathered into one batch-sized buffer that stays in cache for
 * both products.
 */
class NativeEngine extends Float32Engine {
  private xb = new Float32Array(0);
  private z = new Float32Array(0);
  private readonly gw: Float32Array;

  constructor(d: EngineData, private readonly addon: NativeAddon) {
    super(d);
    this.gw = new Float32Array(d.outputs * d.dim);
  }

  protected logits(order: Int32Array, from: number, to: number): Float32Array {
    const { x, dim, outputs: c } = this.d;
    const m = to - from;
    if (this.xb.length < m * dim) this.xb = new Float32Array(m * dim);
    const xb = this.xb.subarray(0, m * dim);
    gatherRows(x, dim, order, from, to, xb);
    if (this.z.length < m * c) this.z = new Float32Array(m * c);
    const z = this.z.subarray(0, m * c);
    this.addon.matmul(xb, this.wT, null, z, [1, m, c, dim, 0, 0], false);
    return z;
  }

  protected gradProduct(gT: Float32Array): Float32Array {
    const { dim, outputs: c } = this.d;
    const m = this.rowsInBatch;
    this.addon.matmul(gT, this.xb.subarray(0, m * dim), null, this.gw, [1, c, dim, m, 0, 0], false);
    return this.gw;
  }

  monitorLogits(w: Float32Array, b: Float32Array): Float32Array {
    const { monitorX: mx, dim, outputs: c } = this.d;
    if (!mx) throw new Error('linear probe: no monitor features');
    const n = mx.length / dim;
    const out = new Float32Array(n * c);
    if (n === 0) return out;
    this.addon.matmul(mx, w, null, out, [1, n, c, dim, 0, 1], false);
    // Added in float32 (the store rounds), as tf.add does on the tensor path.
    for (let i = 0; i < n; i++) for (let k = 0; k < c; k++) out[i * c + k] += b[k];
    return out;
  }

  protected release(): void {}
}

/** Rows gathered per upload: big enough that per-upload overhead vanishes, small enough to bound the extra memory. */
const CHUNK_ROWS = 2048;

/** tf.matMul on any backend; the features go up a chunk of the shuffled order at a time. */
class TensorEngine extends Float32Engine {
  private xb: tf.Tensor2D | null = null;
  private chunk: tf.Tensor2D | null = null;
  private chunkFrom = 0;
  private chunkTo = 0;
  private readonly chunkBuf: Float32Array;
  private readonly monitor: tf.Tensor2D | null;

  constructor(d: EngineData) {
    super(d);
    const n = d.x.length / d.dim;
    this.chunkBuf = new Float32Array(Math.min(n, d.chunkRows ?? CHUNK_ROWS) * d.dim);
    this.monitor = d.monitorX ? tf.tensor2d(d.monitorX, [d.monitorX.length / d.dim, d.dim]) : null;
  }

  /**
   * Batches are contiguous row slices of a chunk of the shuffled order,
   * gathered on the JS side and uploaded once per chunk: a per-batch upload
   * costs more than the two products, and tf.gather from a resident features
   * tensor is far slower still on the cpu-based backends (measured on native:
   * ~3.5 s per 45k x 512 epoch against ~50 ms for row memcpys). An epoch
   * starts at row 0, so a new shuffle always refills the chunk.
   */
  private rowsFor(order: Int32Array, from: number, to: number): tf.Tensor2D {
    const { x, dim } = this.d;
    if (from === 0 || from < this.chunkFrom || to > this.chunkTo) {
      this.chunk?.dispose();
      const rows = Math.max(to - from, Math.min(order.length - from, this.chunkBuf.length / dim));
      // The previous chunk tensor is disposed, so its buffer can be refilled (a larger one only for a batch over CHUNK_ROWS).
      const buf = rows * dim <= this.chunkBuf.length ? this.chunkBuf.subarray(0, rows * dim) : new Float32Array(rows * dim);
      gatherRows(x, dim, order, from, from + rows, buf);
      this.chunk = tf.tensor2d(buf, [rows, dim]);
      this.chunkFrom = from;
      this.chunkTo = from + rows;
    }
    const chunk = this.chunk as tf.Tensor2D;
    return tf.slice(chunk, [from - this.chunkFrom, 0], [to - from, dim]);
  }

  protected logits(order: Int32Array, from: number, to: number): ArrayLike<number> {
    const { dim, outputs: c } = this.d;
    this.xb?.dispose();
    this.xb = this.rowsFor(order, from, to);
    const xb = this.xb;
    // The tensor borrows wT (the cpu-based backends keep the array itself): it is disposed before wT is refilled.
    const z = tf.tidy(() => tf.matMul(xb, tf.tensor2d(this.wT, [dim, c])));
    const zs = z.dataSync(); // the tensor's own array on cpu/native (not recycled once read), a copy elsewhere
    z.dispose();
    return zs;
  }

  protected gradProduct(gT: Float32Array): ArrayLike<number> {
    const xb = this.xb;
    if (!xb) throw new Error('linear probe: weightGrad before batchLogits');
    const t = tf.tidy(() => tf.matMul(tf.tensor2d(gT, [this.d.outputs, xb.shape[0]]), xb));
    const p = t.dataSync();
    t.dispose();
    return p;
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

  protected release(): void {
    this.xb?.dispose();
    this.xb = null;
    this.chunk?.dispose();
    this.chunk = null;
    this.monitor?.dispose();
  }
}
