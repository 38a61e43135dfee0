// Miners pick index tuples from a batch, as pytorch-metric-learning's miners do.
// Each reads the batch's similarity matrix to the host once (computed with the
// gradient tape off) and enumerates in plain JS; nothing here is differentiated.
// Ties are broken deterministically: the lowest row index wins.
import type * as tf from '@tensorflow/tfjs';
import { UserError } from '../util/errors.ts';
import type { Rng } from '../util/rng.ts';
import { hostPairwise, type HostPairwise } from './distances.ts';
import { allPairs, checkLabels, countAllTriplets } from './tuples.ts';
import type { DistanceName, Miner, MinerOutput, Pairs, Stats, Triplets } from './types.ts';

/** Most triplets the 'all' miner hands to a loss in one batch (3 x 64 MiB of indices, plus the loss's gathers). */
export const ALL_TRIPLETS_LIMIT = 2 ** 24;

export interface DistanceOptions {
  distance: DistanceName;
  /** l2 only: squared distances (match the triplet loss's `squared` so margins mean the same). */
  squared?: boolean;
}

/** Rows grouped by label: for each row, the other rows with its label and the rows with another label, ascending. */
interface Groups {
  positives(a: number): Int32Array;
  negatives(a: number): Int32Array;
}

function groups(labels: Int32Array): Groups {
  const byLabel = new Map<number, number[]>();
  labels.forEach((l, i) => { const g = byLabel.get(l); if (g) g.push(i); else byLabel.set(l, [i]); });
  const members = new Map<number, Int32Array>();
  const others = new Map<number, Int32Array>();
  for (const [l, rows] of byLabel) {
    members.set(l, Int32Array.from(rows));
    const rest: number[] = [];
    labels.forEach((m, i) => { if (m !== l) rest.push(i); });
    others.set(l, Int32Array.from(rest));
  }
  return {
    positives: (a) => members.get(labels[a])!.filter((i) => i !== a),
    negatives: (a) => others.get(labels[a])!,
  };
}

/** Farness of (i, j): larger = farther, whatever the distance (the similarity is negated). */
function farness(hp: HostPairwise): (i: number, j: number) => number {
  const { dist, n } = hp;
  return hp.similarity ? (i, j) => -dist[i * n + j] : (i, j) => dist[i * n + j];
}

/** What the distance-based miners read: the batch's distances on the host, their farness, the label groups. */
function hostView(miner: string, embeddings: tf.Tensor2D, labels: Int32Array, o: DistanceOptions) {
  checkLabels(labels, embeddings.shape[0], miner);
  const hp = hostPairwise(embeddings, o.distance, o.squared);
  return { hp, far: farness(hp), g: groups(labels) };
}

function meanSim(hp: HostPairwise, rows: Int32Array, cols: Int32Array): number {
  if (rows.length === 0) return 0;
  let s = 0;
  for (let i = 0; i < rows.length; i++) s += hp.sim[rows[i] * hp.n + cols[i]];
  return s / rows.length;
}

/** Counts and mean cosine similarities of mined pairs (means are 0 when there is nothing to average). */
function pairOutput(pairs: Pairs, hp: HostPairwise, anchorsSkipped: number): MinerOutput {
  return {
    tuples: pairs,
    stats: {
      pos_pairs: pairs.a1.length, neg_pairs: pairs.a2.length,
      mean_pos_sim: meanSim(hp, pairs.a1, pairs.p), mean_neg_sim: meanSim(hp, pairs.a2, pairs.n),
      anchors_skipped: anchorsSkipped,
    },
  };
}

function tripletOutput(t: Triplets, hp: HostPairwise, anchorsSkipped: number, extra: Stats = {}): MinerOutput {
  return {
    tuples: t,
    stats: {
      triplets: t.anchors.length,
      mean_pos_sim: meanSim(hp, t.anchors, t.positives), mean_neg_sim: meanSim(hp, t.anchors, t.negatives),
      anchors_skipped: anchorsSkipped, ...extra,
    },
  };
}

function triplets(a: number[], p: number[], n: number[]): Triplets {
  return { kind: 'triplets', anchors: Int32Array.from(a), positives: Int32Array.from(p), negatives: Int32Array.from(n) };
}

/** Anchors with no tuple: rows that have no positive or no negative in the batch. */
function anchorsWithout(labels: Int32Array, g: Groups): number {
  let skipped = 0;
  for (let a = 0; a < labels.length; a++) if (g.positives(a).length === 0 || g.negatives(a).length === 0) skipped++;
  return skipped;
}

/** Every ordered pair of the batch (what a pair loss uses without a miner). */
export class AllPairsMiner implements Miner {
  readonly name = 'all_pairs';

  mine(embeddings: tf.Tensor2D, labels: Int32Array): MinerOutput {
    checkLabels(labels, embeddings.shape[0], this.name);
    const hp = hostPairwise(embeddings, 'cosine');
    const pairs = allPairs(labels);
    // A row with at least one other row always has a pair.
    return pairOutput(pairs, hp, labels.length > 1 ? 0 : labels.length);
  }
}

export interface AllTripletsOptions {
  /** Cap per batch, drawn uniformly without replacement; 0 or absent = every triplet. */
  maxTriplets?: number;
  /** Needed when maxTriplets > 0. */
  rng?: Rng;
}

/** Every (anchor, positive, negative) triplet, in (anchor, positive, negative) order, optionally a seeded uniform subset. */
export class AllTripletsMiner implements Miner {
  readonly name = 'all_triplets';
  readonly maxTriplets: number;
  private readonly rng?: Rng;

  constructor(o: AllTripletsOptions = {}) {
    this.maxTriplets = o.maxTriplets ?? 0;
    this.rng = o.rng;
    if (!Number.isInteger(this.maxTriplets) || this.maxTriplets < 0) throw new Error(`AllTripletsMiner: maxTriplets must be an integer >= 0, got ${this.maxTriplets}`);
    if (this.maxTriplets > 0 && !this.rng) throw new Error('AllTripletsMiner: maxTriplets needs an rng');
  }

  mine(embeddings: tf.Tensor2D, labels: Int32Array): MinerOutput {
    const n = labels.length;
    checkLabels(labels, embeddings.shape[0], this.name);
    const g = groups(labels);
    const total = countAllTriplets(labels);
    const take = this.maxTriplets > 0 ? Math.min(this.maxTriplets, total) : total;
    if (take > ALL_TRIPLETS_LIMIT) {
      throw new UserError(`method.max_triplets: the 'all' miner found ${total} triplets in a batch of ${n}, over its limit of ${ALL_TRIPLETS_LIMIT}; ` +
        `set max_triplets to at most ${ALL_TRIPLETS_LIMIT}, or use miner none (the triplet loss then covers every triplet without listing them)`);
    }
    const chosen = take === total ? undefined : this.sample(total, take);
    const at = (k: number) => (chosen ? chosen[k] : k);
    const out: Triplets = { kind: 'triplets', anchors: new Int32Array(take), positives: new Int32Array(take), negatives: new Int32Array(take) };
    // The enumeration: anchor a's block holds pos(a) x neg(a) triplets, positive-major.
    let k = 0;
    let offset = 0;
    for (let a = 0; a < n && k < take; a++) {
      const pos = g.positives(a);
      const neg = g.negatives(a);
      const end = offset + pos.length * neg.length;
      for (; k < take && at(k) < end; k++) {
        const r = at(k) - offset;
        out.anchors[k] = a;
        out.positives[k] = pos[Math.floor(r / neg.length)];
        out.negatives[k] = neg[r % neg.length];
      }
      offset = end;
    }
    const hp = hostPairwise(embeddings, 'cosine');
    return tripletOutput(out, hp, anchorsWithout(labels, g), { triplets_available: total });
  }

  /** `take` distinct indices of [0, total), uniform (Floyd's algorithm), ascending. */
  private sample(total: number, take: number): Float64Array {
    const picked = new Set<number>();
    for (let j = total - take; j < total; j++) {
      const t = this.rng!.int(j + 1);
      picked.add(picked.has(t) ? j : t);
    }
    return Float64Array.from(picked).sort();
  }
}

/** Batch-hard (Hermans et al. 2017): per anchor, its farthest positive and its closest negative. */
export class BatchHardMiner implements Miner {
  readonly name = 'batch_hard';
  constructor(readonly o: DistanceOptions) {}

  mine(embeddings: tf.Tensor2D, labels: Int32Array): MinerOutput {
    const { hp, far, g } = hostView(this.name, embeddings, labels, this.o);
    const A: number[] = [], P: number[] = [], N: number[] = [];
    let skipped = 0;
    for (let a = 0; a < labels.length; a++) {
      const pos = g.positives(a);
      const neg = g.negatives(a);
      if (pos.length === 0 || neg.length === 0) { skipped++; continue; }
      let p = pos[0];
      for (const j of pos) if (far(a, j) > far(a, p)) p = j;
      let q = neg[0];
      for (const j of neg) if (far(a, j) < far(a, q)) q = j;
      A.push(a); P.push(p); N.push(q);
    }
    return tripletOutput(triplets(A, P, N), hp, skipped);
  }
}

export interface SemiHardOptions extends DistanceOptions {
  /** The triplet loss's margin: the window beyond the positive where a negative is semi-hard. */
  margin: number;
}

/**
 * Semi-hard (Schroff et al. 2015, FaceNet): for every (anchor, positive) pair,
 * the negatives farther than the positive but within the margin of it
 * (0 < far(a, n) - far(a, p) <= margin, the window of PML's TripletMarginMiner
 * "semihard"); of those the closest one. Pairs without one are dropped and
 * counted (pairs_dropped).
 */
export class SemiHardMiner implements Miner {
  readonly name = 'semi_hard';
  constructor(readonly o: SemiHardOptions) {}

  mine(embeddings: tf.Tensor2D, labels: Int32Array): MinerOutput {
    const { hp, far, g } = hostView(this.name, embeddings, labels, this.o);
    const A: number[] = [], P: number[] = [], N: number[] = [];
    let skipped = 0;
    let dropped = 0;
    for (let a = 0; a < labels.length; a++) {
      const pos = g.positives(a);
      // Negatives nearest first, ties by index: the first one past a positive is the closest, lowest index.
      const neg = Array.from(g.negatives(a)).sort((x, y) => far(a, x) - far(a, y) || x - y);
      const before = A.length;
      for (const p of pos) {
        const fp = far(a, p);
        let lo = 0;
        let hi = neg.length;
        while (lo < hi) { const mid = (lo + hi) >> 1; if (far(a, neg[mid]) > fp) hi = mid; else lo = mid + 1; }
        if (lo < neg.length && far(a, neg[lo]) - fp <= this.o.margin) { A.push(a); P.push(p); N.push(neg[lo]); } else dropped++;
      }
      if (A.length === before) skipped++;
    }
    return tripletOutput(triplets(A, P, N), hp, skipped, { pairs_dropped: dropped });
  }
}

export interface MultiSimilarityMinerOptions extends DistanceOptions {
  /** How far inside the hardest opposite pair a pair must lie to be kept (PML default 0.1). */
  epsilon: number;
}

/**
 * Multi-similarity mining (Wang et al. 2019), as PML's MultiSimilarityMiner: a
 * negative pair is kept when it is closer than the anchor's farthest positive
 * plus epsilon (cosine: s_an > min s_ap - eps), a positive pair when it is
 * farther than the anchor's closest negative minus epsilon (s_ap < max s_an + eps).
 * Anchors without both a positive and a negative give nothing.
 */
export class MultiSimilarityMiner implements Miner {
  readonly name = 'multisimilarity';
  constructor(readonly o: MultiSimilarityMinerOptions) {}

  mine(embeddings: tf.Tensor2D, labels: Int32Array): MinerOutput {
    const { hp, far, g } = hostView(this.name, embeddings, labels, this.o);
    const eps = this.o.epsilon;
    const a1: number[] = [], p: number[] = [], a2: number[] = [], n: number[] = [];
    let skipped = 0;
    for (let a = 0; a < labels.length; a++) {
      const pos = g.positives(a);
      const neg = g.negatives(a);
      if (pos.length === 0 || neg.length === 0) { skipped++; continue; }
      let farthestPos = -Infinity;
      for (const j of pos) farthestPos = Math.max(farthestPos, far(a, j));
      let closestNeg = Infinity;
      for (const j of neg) closestNeg = Math.min(closestNeg, far(a, j));
      const before = a1.length + a2.length;
      for (const j of pos) if (far(a, j) + eps > closestNeg) { a1.push(a); p.push(j); }
      for (const j of neg) if (far(a, j) - eps < farthestPos) { a2.push(a); n.push(j); }
      if (a1.length + a2.length === before) skipped++;
    }
    const pairs: Pairs = { kind: 'pairs', a1: Int32Array.from(a1), p: Int32Array.from(p), a2: Int32Array.from(a2), n: Int32Array.from(n) };
    return pairOutput(pairs, hp, skipped);
  }
}
