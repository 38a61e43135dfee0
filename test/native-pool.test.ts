// The native backend's output-buffer pool (src/backend/native-pool.ts), on its own:
// recycling by length, the budget, and which arrays go when it is exceeded.
import { describe, expect, it } from 'vitest';
import { BufferPool } from '../src/backend/native-pool.ts';

const N = 1 << 14; // the smallest pooled length

describe('BufferPool', () => {
  it('hands a released array back for the same length, and a fresh one for another', () => {
    const pool = new BufferPool();
    const a = pool.alloc(N);
    pool.release(a);
    expect(pool.stats()).toEqual({ idleArrays: 1, idleBytes: a.byteLength });
    expect(pool.alloc(2 * N)).not.toBe(a);
    expect(pool.alloc(N)).toBe(a);
    expect(pool.stats()).toEqual({ idleArrays: 0, idleBytes: 0 });
  });

  it('never recycles an array it does not own, a disowned one, a small one, or one released twice', () => {
    const pool = new BufferPool();
    pool.release(new Float32Array(N));
    const b = pool.alloc(N);
    pool.disown(b.buffer);
    pool.release(b);
    const small = pool.alloc(16);
    pool.release(small);
    expect(pool.stats().idleArrays).toBe(0);
    const c = pool.alloc(N);
    pool.release(c);
    pool.release(c);
    expect(pool.stats().idleArrays).toBe(1);
    expect(pool.alloc(N)).toBe(c);
    expect(pool.alloc(N)).not.toBe(c);
  });

  it('over its budget drops the least recently released arrays, not the newest', () => {
    const bytes = 4 * N;
    const pool = new BufferPool(3 * bytes + 64);
    // An earlier workload's arrays (three lengths) fill the budget...
    const old = [pool.alloc(N), pool.alloc(N + 1), pool.alloc(N + 2)];
    old.forEach((a) => pool.release(a));
    expect(pool.stats().idleArrays).toBe(3);
    // ...and a new workload's arrays must still be recycled, pushing the oldest out.
    const fresh = pool.alloc(N + 3);
    pool.release(fresh);
    expect(pool.stats().idleArrays).toBe(3);
    expect(pool.stats().idleBytes).toBeLessThanOrEqual(3 * bytes + 64);
    expect(pool.alloc(N + 3)).toBe(fresh);
    expect(pool.alloc(N)).not.toBe(old[0]); // evicted first
    expect(pool.alloc(N + 1)).toBe(old[1]);
    expect(pool.alloc(N + 2)).toBe(old[2]);
  });

  it('evicts the oldest of a length first and keeps the per-length order', () => {
    const M = N + 16;
    const pool = new BufferPool(2 * 4 * M);
    const [a, b, c] = [pool.alloc(M), pool.alloc(M), pool.alloc(M)];
    // Three arrays were live at once, so three fit idle (the budget grew past its 2-array floor)...
    expect(pool.budget()).toBe(3 * 4 * M);
    pool.release(a);
    pool.release(b);
    pool.release(c);
    expect(pool.stats().idleArrays).toBe(3);
    // ...and one more of another length pushes the oldest of them out.
    const x = pool.alloc(N);
    pool.release(x);
    expect(pool.stats().idleArrays).toBe(3);
    expect(pool.alloc(M)).toBe(c);
    expect(pool.alloc(M)).toBe(b);
    expect(pool.alloc(M)).not.toBe(a);
    expect(pool.alloc(N)).toBe(x);
  });

  it('keeps idle as many bytes as were once live at the same time, above its floor', () => {
    // A training step whose arrays outgrow the floor must get all of them back next step.
    const pool = new BufferPool(4 * N); // floor: one array
    expect(pool.budget()).toBe(4 * N);
    const step = () => Array.from({ length: 5 }, (_, i) => pool.alloc(N + i));
    const first = step();
    expect(pool.budget()).toBe(first.reduce((s, a) => s + a.byteLength, 0));
    first.forEach((a) => pool.release(a));
    expect(pool.stats().idleArrays).toBe(5);
    const second = step();
    second.forEach((a, i) => expect(a).toBe(first[i]));
    // Released and disowned arrays are no longer live: the high-water mark is not raised by reuse.
    second.forEach((a) => pool.release(a));
    const d = pool.alloc(N);
    pool.disown(d.buffer);
    const again = step();
    expect(again.filter((a, i) => a === first[i]).length).toBe(4); // N's array was disowned: a fresh one
    expect(pool.budget()).toBe(first.reduce((s, a) => s + a.byteLength, 0));
  });

  it('clear() empties it', () => {
    const pool = new BufferPool();
    const a = pool.alloc(N);
    pool.release(a);
    pool.clear();
    expect(pool.stats()).toEqual({ idleArrays: 0, idleBytes: 0 });
    expect(pool.alloc(N)).not.toBe(a);
  });
});
