// Per-image values broadcast to full size in JS with TypedArray.fill (native
// speed), so the tensor op that consumes them takes the same-shape path.
// Why: tfjs's cpu kernels (which the native backend keeps for elementwise ops)
// broadcast an [n,1,1,1] operand through a per-element index computation about
// 20x slower than their same-shape loop; a filled copy costs one memset.

/** [n * per] floats where image i's block of `per` values all equal values[i]. */
export function expandPerImage(values: ArrayLike<number>, per: number): Float32Array {
  const out = new Float32Array(values.length * per);
  for (let i = 0; i < values.length; i++) if (values[i] !== 0) out.fill(values[i], i * per, (i + 1) * per);
  return out;
}

/** [n * per] bytes, 1 in the blocks of images whose flag is set (for boolean masks). */
export function expandFlags(flags: Uint8Array, per: number): Uint8Array {
  const out = new Uint8Array(flags.length * per);
  for (let i = 0; i < flags.length; i++) if (flags[i]) out.fill(1, i * per, (i + 1) * per);
  return out;
}

/** Repeats `block` `times` times back to back (copyWithin doubling: log2(times) native copies). */
export function repeatBlock<T extends Float32Array>(block: Float32Array, times: number, out: T, at = 0): T {
  const len = block.length * times;
  out.set(block, at);
  let filled = block.length;
  while (filled < len) {
    const m = Math.min(filled, len - filled);
    out.copyWithin(at + filled, at, at + m);
    filled += m;
  }
  return out;
}
