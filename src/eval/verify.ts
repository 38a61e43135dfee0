// Verification: is this pair of images the same class? The embedding answers
// with a cosine similarity and a threshold (accept when sim >= threshold).
// This module draws the pairs, scores them, and summarizes the trade-off:
// ROC AUC (exact, from ranks: the chance that a random same pair outscores a
// random different pair, ties counting one half), the equal error rate where
// false accepts and false rejects balance, and the threshold that keeps false
// accepts at a chosen rate, which the search / dedup tools then use.
import type { Rng } from '../util/rng.ts';

export interface PairSet {
  /** Item indices of each pair, a[i] < b[i]. */
  a: Int32Array;
  b: Int32Array;
  /** 1 for a same-class pair, 0 for a different-class pair. */
  same: Uint8Array;
  nSame: number;
  nDifferent: number;
  /** 'all': every pair of the split; 'sampled': up to max_pairs / 2 of each kind, seeded. */
  sampling: 'all' | 'sampled';
}

/** Number of unordered same-class and different-class pairs among `labels`. */
export function pairCounts(labels: Int32Array): { same: number; different: number } {
  const counts = new Map<number, number>();
  for (const y of labels) counts.set(y, (counts.get(y) ?? 0) + 1);
  let same = 0;
  for (const c of counts.values()) same += (c * (c - 1)) / 2;
  const n = labels.length;
  return { same, different: (n * (n - 1)) / 2 - same };
}

/**
 * The pairs to score. When the split has at most `maxPairs` pairs in all, every pair (exact
 * numbers, unbalanced). Otherwise m = min(maxPairs / 2, #same, #different) pairs of each kind,
 * drawn uniformly without replacement with `rng`: balanced, so neither kind's rate rests on a
 * handful of pairs. Returned in a canonical order (by a, then b) so scoring does not depend on
 * the order of the draws.
 */
export function verificationPairs(labels: Int32Array, maxPairs: number, rng: Rng): PairSet {
  const n = labels.length;
  const { same: S, different: D } = pairCounts(labels);
  if (S === 0 || D === 0) throw new Error(`verificationPairs: need both same-class and different-class pairs (have ${S} and ${D})`);
  const pairs: number[] = [];
  let sampling: PairSet['sampling'];
  if (S + D <= maxPairs) {
    sampling = 'all';
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) pairs.push(i * n + j);
  } else {
    sampling = 'sampled';
    const m = Math.max(1, Math.min(Math.floor(maxPairs / 2), S, D));
    const byClass = groupByClass(labels);
    // Not push(...draws): spreading 10^5 arguments overflows the call stack.
    for (const draws of [sampleSamePairs(byClass, n, S, m, rng), sampleDifferentPairs(byClass, labels, n, D, m, rng)]) {
      for (const key of draws) pairs.push(key);
    }
  }
  pairs.sort((x, y) => x - y);
  const a = new Int32Array(pairs.length);
  const b = new Int32Array(pairs.length);
  const same = new Uint8Array(pairs.length);
  let nSame = 0;
  pairs.forEach((key, t) => {
    a[t] = Math.floor(key / n);
    b[t] = key - a[t] * n;
    same[t] = labels[a[t]] === labels[b[t]] ? 1 : 0;
    nSame += same[t];
  });
  return { a, b, same, nSame, nDifferent: pairs.length - nSame, sampling };
}

interface ClassGroups {
  /** Item indices sorted by class, classes in ascending label order. */
  items: Int32Array;
  /** Per class: start offset in `items` and size. */
  start: number[];
  size: number[];
  /** Class position of each item. */
  classOf: Int32Array;
}

function groupByClass(labels: Int32Array): ClassGroups {
  const distinct = [...new Set(labels)].sort((x, y) => x - y);
  const pos = new Map(distinct.map((y, c) => [y, c]));
  const size = distinct.map(() => 0);
  for (const y of labels) size[pos.get(y)!]++;
  const start: number[] = [];
  let acc = 0;
  for (const s of size) { start.push(acc); acc += s; }
  const fill = [...start];
  const items = new Int32Array(labels.length);
  const classOf = new Int32Array(labels.length);
  labels.forEach((y, i) => { const c = pos.get(y)!; classOf[i] = c; items[fill[c]++] = i; });
  return { items, start, size, classOf };
}

/** Key of an unordered pair: smaller index times n plus larger (exact in a double up to n ~ 9e7). */
function pairKey(i: number, j: number, n: number): number { return i < j ? i * n + j : j * n + i; }

/** m distinct same-class pairs, uniform: a uniform pair number in [0, S) mapped to (class, i < j). */
function sampleSamePairs(g: ClassGroups, n: number, S: number, m: number, rng: Rng): number[] {
  const cum: number[] = [];
  let acc = 0;
  for (const s of g.size) { acc += (s * (s - 1)) / 2; cum.push(acc); }
  const keys = new Set<number>();
  // Floyd's algorithm: m distinct numbers from [0, S) in m draws.
  for (let t = S - m; t < S; t++) {
    const v = rng.int(t + 1);
    keys.add(keys.has(v) ? t : v);
  }
  const out: number[] = [];
  for (const v of keys) {
    let lo = 0, hi = cum.length - 1;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (cum[mid] > v) hi = mid; else lo = mid + 1; }
    const c = lo;
    const p = v - (c === 0 ? 0 : cum[c - 1]);
    const [i, j] = trianglePair(p, g.size[c]);
    out.push(pairKey(g.items[g.start[c] + i], g.items[g.start[c] + j], n));
  }
  return out;
}

/**
 * The p-th pair (i < j) of a size x size upper triangle in row-major order: row i holds
 * size-1-i pairs, so before row i lie i(size-1) - i(i-1)/2. The row comes from the quadratic,
 * then one-step corrections absorb floating-point error.
 */
export function trianglePair(p: number, size: number): [number, number] {
  const before = (i: number) => i * (size - 1) - (i * (i - 1)) / 2;
  const b = 2 * size - 1;
  let i = Math.floor((b - Math.sqrt(b * b - 8 * p)) / 2);
  i = Math.max(0, Math.min(size - 2, i));
  while (i > 0 && before(i) > p) i--;
  while (i < size - 2 && before(i + 1) <= p) i++;
  return [i, i + 1 + (p - before(i))];
}

/**
 * m distinct different-class pairs, uniform: the first item with probability proportional to its
 * number of other-class partners, the second uniform among those (each unordered pair is then
 * drawn with equal probability); repeats are redrawn.
 */
function sampleDifferentPairs(g: ClassGroups, labels: Int32Array, n: number, D: number, m: number, rng: Rng): number[] {
  if (m === D) {
    // Every different pair, class block by class block: exactly D steps, however big one class is.
    const all: number[] = [];
    for (let c = 0; c < g.size.length; c++) {
      for (let s = g.start[c]; s < g.start[c] + g.size[c]; s++) {
        for (let t = g.start[c] + g.size[c]; t < labels.length; t++) all.push(pairKey(g.items[s], g.items[t], n));
      }
    }
    return all;
  }
  const cumW = new Float64Array(n);
  let acc = 0;
  for (let i = 0; i < n; i++) { acc += n - g.size[g.classOf[i]]; cumW[i] = acc; }
  const keys = new Set<number>();
  while (keys.size < m) {
    const u = rng.next() * acc;
    let lo = 0, hi = n - 1;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (cumW[mid] > u) hi = mid; else lo = mid + 1; }
    const i = lo;
    const c = g.classOf[i];
    // Uniform position among the items outside class c (the sorted list with c's block cut out).
    let r = rng.int(n - g.size[c]);
    if (r >= g.start[c]) r += g.size[c];
    keys.add(pairKey(i, g.items[r], n));
  }
  return [...keys];
}

/** Cosine similarity of each pair: dot products of L2-normalized rows, accumulated in float64. */
export function pairSimilarities(features: Float32Array, dim: number, pairs: Pick<PairSet, 'a' | 'b'>): Float64Array {
  const out = new Float64Array(pairs.a.length);
  for (let t = 0; t < out.length; t++) {
    const oa = pairs.a[t] * dim;
    const ob = pairs.b[t] * dim;
    let s = 0;
    for (let d = 0; d < dim; d++) s += features[oa + d] * features[ob + d];
    out[t] = s;
  }
  return out;
}

/**
 * ROC AUC by the Mann-Whitney rank sum: average ranks over ties, so a tie between a same
 * and a different pair counts 1/2. O(n log n); exact for any number of pairs.
 */
export function rocAuc(scores: ArrayLike<number>, positive: ArrayLike<number>): number {
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => scores[x] - scores[y]);
  let nPos = 0;
  let rankSum = 0;
  for (let s = 0; s < n;) {
    let e = s;
    while (e + 1 < n && scores[order[e + 1]] === scores[order[s]]) e++;
    const avgRank = (s + e) / 2 + 1;
    for (let t = s; t <= e; t++) if (positive[order[t]]) { nPos++; rankSum += avgRank; }
    s = e + 1;
  }
  const nNeg = n - nPos;
  if (nPos === 0 || nNeg === 0) return NaN;
  return (rankSum - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}

/** Operating points, one per distinct score (descending), after the point that accepts nothing. */
export interface RocCurve {
  /** thresholds[0] = +Infinity (accept nothing); then each distinct score, highest first. */
  thresholds: Float64Array;
  /** False-accept rate: share of different pairs with sim >= threshold. */
  far: Float64Array;
  /** True-accept rate: share of same pairs with sim >= threshold. */
  tar: Float64Array;
}

export function rocCurve(scores: ArrayLike<number>, positive: ArrayLike<number>): RocCurve {
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => scores[y] - scores[x]);
  let nPos = 0;
  for (let i = 0; i < n; i++) if (positive[i]) nPos++;
  const nNeg = n - nPos;
  const th = [Infinity];
  const far = [0];
  const tar = [0];
  let tp = 0, fp = 0;
  for (let s = 0; s < n;) {
    const v = scores[order[s]];
    while (s < n && scores[order[s]] === v) { if (positive[order[s]]) tp++; else fp++; s++; }
    th.push(v);
    far.push(nNeg ? fp / nNeg : 0);
    tar.push(nPos ? tp / nPos : 0);
  }
  return { thresholds: Float64Array.from(th), far: Float64Array.from(far), tar: Float64Array.from(tar) };
}

/**
 * Equal error rate: where FAR = FRR (= 1 - TAR), linearly interpolated between the two operating
 * points that bracket it; the threshold is interpolated the same way (the accept-nothing point
 * counts as the highest score for that purpose).
 */
export function equalErrorRate(c: RocCurve): { eer: number; threshold: number } {
  const f = (k: number) => c.far[k] - (1 - c.tar[k]);
  let k = 1;
  while (k < c.far.length - 1 && f(k) < 0) k++;
  const f0 = f(k - 1);
  const f1 = f(k);
  const alpha = f1 === f0 ? 0 : -f0 / (f1 - f0);
  const eer = c.far[k - 1] + alpha * (c.far[k] - c.far[k - 1]);
  const t0 = k - 1 === 0 ? c.thresholds[1] : c.thresholds[k - 1];
  return { eer, threshold: t0 + alpha * (c.thresholds[k] - t0) };
}

/**
 * The lowest threshold (most true accepts) whose false-accept rate is at most `far`.
 * When even the highest score is a different pair too many, nothing can be accepted: the
 * threshold is then the next double above the highest score, with TAR 0.
 */
export function thresholdAtFar(c: RocCurve, far: number): { threshold: number; far: number; tar: number } {
  let k = 0;
  for (let j = 1; j < c.far.length; j++) if (c.far[j] <= far) k = j; else break;
  const threshold = k === 0 ? nextUp(c.thresholds.length > 1 ? c.thresholds[1] : 1) : c.thresholds[k];
  return { threshold, far: c.far[k], tar: c.tar[k] };
}

/** The smallest double greater than x (x finite). */
export function nextUp(x: number): number {
  if (x === 0) return Number.MIN_VALUE;
  const v = new DataView(new ArrayBuffer(8));
  v.setFloat64(0, x);
  const bits = v.getBigInt64(0);
  v.setBigInt64(0, x > 0 ? bits + 1n : bits - 1n);
  return v.getFloat64(0);
}

export interface VerifySummary {
  auc: number;
  eer: number;
  eer_threshold: number;
  /** Accept when cosine similarity >= threshold; chosen for `far_target`. */
  threshold: number;
  far_target: number;
  /** Measured false-accept rate at `threshold` (<= far_target). */
  far: number;
  tar: number;
}

export function summarizeVerification(scores: ArrayLike<number>, same: ArrayLike<number>, farTarget: number): VerifySummary {
  const curve = rocCurve(scores, same);
  const e = equalErrorRate(curve);
  const t = thresholdAtFar(curve, farTarget);
  return { auc: rocAuc(scores, same), eer: e.eer, eer_threshold: e.threshold, threshold: t.threshold, far_target: farTarget, far: t.far, tar: t.tar };
}
