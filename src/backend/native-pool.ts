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
//
// Budget: the pool keeps up to max(maxBytes, the most bytes of its arrays ever
// live at once) idle. A training step releases nearly everything it allocated,
// so with a fixed 1 GiB a step whose activations pass that (64x64 images at
// batch 128: ~2.3 GB) lost most of its arrays between steps and allocated them
// fresh: 583k page faults and a 6.3-7.7 s step, against 1.6-2.0 s with the
// arrays kept, at the same resident size (3.6 GB), since the process holds
// them at its peak anyway. Idle bytes never exceed what the process has
// already shown it needs live at once (or the floor).
export class BufferPool {
  /** Idle arrays by length; within a length, oldest release first. */
  private readonly free = new Map<number, Float32Array[]>();
  /** Every idle array, oldest release first: what goes when the pool is over its budget. */
  private readonly idle = new Set<Float32Array>();
  private readonly owned = new WeakMap<ArrayBuffer, Float32Array>();
  private pooledBytes = 0;
  /** Bytes of owned arrays handed out and not yet released or disowned, and their high-water mark. */
  private liveBytes = 0;
  private peakLiveBytes = 0;

  /**
   * @param maxBytes bytes the pool may always keep idle; it keeps more when more were once live at the same
   *   time (see above). Beyond the budget, the least recently released arrays go to the GC.
   * @param minLength arrays shorter than this are not pooled (allocation is cheap).
   */
  constructor(readonly maxBytes = 1 << 30, readonly minLength = 1 << 14) {}

  /** An array of n floats with unspecified contents: the caller must overwrite all of it. */
  alloc(n: number): Float32Array {
    if (n < this.minLength) return new Float32Array(n);
    const list = this.free.get(n);
    const reused = list?.pop();
    if (list && list.length === 0) this.free.delete(n);
    if (reused) {
      this.idle.delete(reused);
      this.pooledBytes -= reused.byteLength;
    }
    const a = reused ?? new Float32Array(n);
    this.owned.set(a.buffer as ArrayBuffer, a);
    this.liveBytes += a.byteLength;
    this.peakLiveBytes = Math.max(this.peakLiveBytes, this.liveBytes);
    return a;
  }

  /**
   * Called when the tensor holding `a` is disposed: recycle it if we still own it.
   * Over budget, the least recently released arrays are dropped, not the new one:
   * otherwise a workload's leftovers (evaluation at another batch size, a bigger
   * model) would fill the pool for good and every later allocation would miss.
   */
  release(a: Float32Array): void {
    if (this.owned.get(a.buffer as ArrayBuffer) !== a || a.byteOffset !== 0 || this.idle.has(a)) return;
    // No size check: a was live, so the budget (>= the live high-water mark) holds it.
    this.liveBytes -= a.byteLength;
    const budget = this.budget();
    const list = this.free.get(a.length);
    if (list) list.push(a); else this.free.set(a.length, [a]);
    this.idle.add(a);
    this.pooledBytes += a.byteLength;
    while (this.pooledBytes > budget) this.evictOldest();
  }

  /** `buffer` is now visible outside the backend's bookkeeping: never recycle it. */
  disown(buffer: ArrayBufferLike): void {
    const a = this.owned.get(buffer as ArrayBuffer);
    if (a && !this.idle.has(a)) this.liveBytes -= a.byteLength;
    this.owned.delete(buffer as ArrayBuffer);
  }

  /** The most bytes kept idle now: max(maxBytes, the high-water mark of live bytes). */
  budget(): number {
    return Math.max(this.maxBytes, this.peakLiveBytes);
  }

  /** Drops every idle array (e.g. after a large one-off workload). */
  clear(): void {
    for (const a of this.idle) this.owned.delete(a.buffer as ArrayBuffer);
    this.free.clear();
    this.idle.clear();
    this.pooledBytes = 0;
  }

  stats(): { idleArrays: number; idleBytes: number } {
    return { idleArrays: this.idle.size, idleBytes: this.pooledBytes };
  }

  private evictOldest(): void {
    const oldest = this.idle.values().next().value as Float32Array;
    this.idle.delete(oldest);
    // Its length's list is in release order too, so the oldest of that length is first.
    const list = this.free.get(oldest.length)!;
    list.splice(list.indexOf(oldest), 1);
    if (list.length === 0) this.free.delete(oldest.length);
    this.owned.delete(oldest.buffer as ArrayBuffer);
    this.pooledBytes -= oldest.byteLength;
  }
}
