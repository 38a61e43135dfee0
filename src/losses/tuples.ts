// Host-side bookkeeping shared by the losses and miners: index tuples from
// labels, conversions between tuple kinds, label/pair masks as flat N x N
// arrays, and the checks that catch a miner/loss wiring bug early.
import * as tf from '@tensorflow/tfjs';
import type { Pairs, Triplets, Tuples } from './types.ts';

/** Throws (a programming error, not a user's) unless `labels` has one entry per row. */
export function checkLabels(labels: Int32Array, n: number, who: string): void {
  if (labels.length !== n) throw new Error(`${who}: ${labels.length} labels for ${n} embeddings`);
}

/** Every ordered pair (i, j), i != j, in row-major order: same label -> (a1, p), different -> (a2, n). */
export function allPairs(labels: Int32Array): Pairs {
  const n = labels.length;
  let pos = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j && labels[i] === labels[j]) pos++;
  const neg = n * (n - 1) - pos;
  const out: Pairs = { kind: 'pairs', a1: new Int32Array(pos), p: new Int32Array(pos), a2: new Int32Array(neg), n: new Int32Array(neg) };
  let k = 0;
  let m = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (i === j) continue;
      if (labels[i] === labels[j]) { out.a1[k] = i; out.p[k] = j; k++; } else { out.a2[m] = i; out.n[m] = j; m++; }
    }
  }
  return out;
}

/** Number of (anchor, positive, negative) triplets in a batch: sum over anchors of positives x negatives. */
export function countAllTriplets(labels: Int32Array): number {
  const counts = new Map<number, number>();
  for (const l of labels) counts.set(l, (counts.get(l) ?? 0) + 1);
  let total = 0;
  for (const l of labels) {
    const same = counts.get(l)!;
    total += (same - 1) * (labels.length - same);
  }
  return total;
}

/** A triplet is a positive pair (a, p) and a negative pair (a, n), as PML's convert_to_pairs (duplicates kept). */
export function pairsFromTriplets(t: Triplets): Pairs {
  return { kind: 'pairs', a1: t.anchors.slice(), p: t.positives.slice(), a2: t.anchors.slice(), n: t.negatives.slice() };
}

export function asPairs(tuples: Tuples): Pairs {
  return tuples.kind === 'pairs' ? tuples : pairsFromTriplets(tuples);
}

/** Throws unless every index is a row of the batch and the arrays that go together have equal lengths. */
export function checkTuples(tuples: Tuples, n: number, who: string): void {
  const groups = tuples.kind === 'pairs'
    ? [[tuples.a1, tuples.p], [tuples.a2, tuples.n]]
    : [[tuples.anchors, tuples.positives, tuples.negatives]];
  for (const g of groups) {
    for (const a of g) {
      if (a.length !== g[0].length) throw new Error(`${who}: ${tuples.kind} arrays of different lengths (${g.map((x) => x.length).join(', ')})`);
      for (const i of a) if (i < 0 || i >= n || !Number.isInteger(i)) throw new Error(`${who}: tuple index ${i} outside a batch of ${n}`);
    }
  }
}

/** row * n + col for each entry: where the pair sits in the flattened N x N matrix. */
export function flatIndex(rows: Int32Array, cols: Int32Array, n: number): Int32Array {
  const out = new Int32Array(rows.length);
  for (let i = 0; i < rows.length; i++) out[i] = rows[i] * n + cols[i];
  return out;
}

/** 0/1 masks, row-major N x N: pos = same label and not the diagonal, neg = different label. */
export function labelMasks(labels: Int32Array): { pos: Float32Array; neg: Float32Array } {
  const n = labels.length;
  const pos = new Float32Array(n * n);
  const neg = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (labels[i] === labels[j]) { if (i !== j) pos[i * n + j] = 1; } else neg[i * n + j] = 1;
    }
  }
  return { pos, neg };
}

/** 0/1 masks from mined pairs, row-major N x N (a pair mined twice is one entry, as PML's mask-based losses). */
export function pairMasks(pairs: Pairs, n: number): { pos: Float32Array; neg: Float32Array } {
  const pos = new Float32Array(n * n);
  const neg = new Float32Array(n * n);
  for (let i = 0; i < pairs.a1.length; i++) pos[pairs.a1[i] * n + pairs.p[i]] = 1;
  for (let i = 0; i < pairs.a2.length; i++) neg[pairs.a2[i] * n + pairs.n[i]] = 1;
  return { pos, neg };
}

/** A loss of 0 that is still a function of the embeddings, so a gradient through it is zeros rather than an error. */
export function zeroLoss(embeddings: tf.Tensor): tf.Scalar {
  // (+ 0 turns the -0 of a negative sum times 0 into +0.)
  return tf.tidy(() => tf.add(tf.mul(tf.sum(embeddings), 0), 0) as tf.Scalar);
}
