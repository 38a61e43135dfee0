// Recycles the big Float32Arrays the native kernels write their outputs into.
// A fresh 8 MB ArrayBuffer costs a zero-fill and page faults, and every one
// adds to V8's external-memory pressure, which triggers a full GC every few
// kernels (measured: ~100 ms of GC per training step at batch 32). Reusing
// disposed outputs of the same length removes both.
//
// Safety: an array is recycled only while nobody else can see it. Arrays this
// pool hands out are "owned"; ownership is dropped for good when the array
// escapes: read by dataSync()/data() (the cpu backend returns the stored array
// itself), or aliased by a kernel that made a view of it (the cpu Slice kernel
// returns subarrays) or stored it under a new tensor.
export class BufferPool {
  private readonly free = new Map<number, Float32Array[]>();
  private readonly owned = new WeakMap<ArrayBuffer, Float32Array>();
  private pooledBytes = 0;

  /**
   * @param maxBytes most bytes kept idle in the pool; beyond that, released arrays go to the GC.
   * @param minLength arrays shorter than this are not pooled (allocation is cheap).
   */
  constructor(readonly maxBytes = 1 << 30, readonly minLength = 1 << 14) {}

  /** An array of n floats with unspecified contents: the caller must overwrite all of it. */
  alloc(n: number): Float32Array {
    if (n < this.minLength) return new Float32Array(n);
    const list = this.free.get(n);
    const a = list?.pop() ?? new Float32Array(n);
    if (list && list.length === 0) this.free.delete(n);
    if (a !== undefined && this.owned.get(a.buffer as ArrayBuffer) === a) this.pooledBytes -= a.byteLength;
    this.owned.set(a.buffer as ArrayBuffer, a);
    return a;
  }

  /** Called when the tensor holding `a` is disposed: recycle it if we still own it. */
  release(a: Float32Array): void {
    if (this.owned.get(a.buffer as ArrayBuffer) !== a || a.byteOffset !== 0) return;
    if (this.pooledBytes + a.byteLength > this.maxBytes) { this.owned.delete(a.buffer as ArrayBuffer); return; }
    const list = this.free.get(a.length);
    if (list) list.push(a); else this.free.set(a.length, [a]);
    this.pooledBytes += a.byteLength;
  }

  /** `buffer` is now visible outside the backend's bookkeeping: never recycle it. */
  disown(buffer: ArrayBufferLike): void {
    this.owned.delete(buffer as ArrayBuffer);
  }

  /** Drops every idle array (e.g. after a large one-off workload). */
  clear(): void {
    for (const list of this.free.values()) for (const a of list) this.owned.delete(a.buffer as ArrayBuffer);
    this.free.clear();
    this.pooledBytes = 0;
  }

  stats(): { idleArrays: number; idleBytes: number } {
    let n = 0;
    for (const l of this.free.values()) n += l.length;
    return { idleArrays: n, idleBytes: this.pooledBytes };
  }
}
