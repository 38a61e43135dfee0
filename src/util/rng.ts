// Every random draw in selfsup goes through an Rng made here, so a run is
// reproducible from its recipe and seed. Backed by seedrandom's ARC4 generator,
// whose state can be saved in a checkpoint and restored exactly.
import seedrandom from 'seedrandom';

export interface RngState { s: seedrandom.State.Arc4 }

export class Rng {
  private prng: seedrandom.StatefulPRNG<seedrandom.State.Arc4>;

  constructor(seed: number | string, state?: RngState) {
    this.prng = state
      ? seedrandom('', { state: state.s })
      : seedrandom(String(seed), { state: true });
  }

  /** Uniform in [0, 1). */
  next(): number { return this.prng.double(); }

  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number { return lo + (hi - lo) * this.next(); }

  /** Integer in [0, n). */
  int(n: number): number { return Math.floor(this.next() * n); }

  /** True with probability p. */
  bernoulli(p: number): boolean { return this.next() < p; }

  /** Standard normal (Box-Muller). */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  /** A 32-bit integer seed, e.g. for tf.randomNormal / tf.randomUniform calls. */
  seed(): number { return this.prng.int32() >>> 0; }

  /** In-place Fisher-Yates shuffle. */
  shuffle<T>(a: T[] | Int32Array | Uint32Array): typeof a {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i]; a[i] = a[j]; a[j] = t;
    }
    return a;
  }

  /** An independent child generator, derived deterministically from this one's stream. */
  fork(label: string): Rng { return new Rng(`${label}:${this.prng.int32()}`); }

  state(): RngState { return { s: this.prng.state() }; }
}

export function createRng(seed: number | string): Rng { return new Rng(seed); }
export function restoreRng(state: RngState): Rng { return new Rng(0, state); }
