import { describe, it, expect } from 'vitest';
import {
  equalErrorRate, nextUp, pairCounts, pairSimilarities, rocAuc, rocCurve, summarizeVerification, thresholdAtFar,
  trianglePair, verificationPairs,
} from '../src/eval/verify.ts';
import { Rng } from '../src/util/rng.ts';

/** Scores and same-flags from two lists. */
function pairsOf(same: number[], different: number[]): { scores: number[]; pos: number[] } {
  return { scores: [...same, ...different], pos: [...same.map(() => 1), ...different.map(() => 0)] };
}

/** AUC by counting every (same, different) pair: 1 if the same pair scores higher, 1/2 on a tie. */
function bruteAuc(scores: number[], pos: number[]): number {
  let wins = 0, total = 0;
  for (let i = 0; i < scores.length; i++) {
    if (!pos[i]) continue;
    for (let j = 0; j < scores.length; j++) {
      if (pos[j]) continue;
      total++;
      wins += scores[i] > scores[j] ? 1 : scores[i] === scores[j] ? 0.5 : 0;
    }
  }
  return wins / total;
}

describe('ROC AUC', () => {
  it('equals O(n^2) counting on seeded scores with many ties', () => {
    const rng = new Rng('auc');
    for (const n of [2, 17, 400]) {
      const pos = Array.from({ length: n }, (_, i) => (i < 2 ? i : rng.int(2)));
      // Quantized scores: lots of exact ties, within and across the two kinds.
      const scores = pos.map((p) => Math.round((rng.normal() + (p ? 0.8 : 0)) * 4) / 4);
      expect(rocAuc(scores, pos)).toBeCloseTo(bruteAuc(scores, pos), 12);
    }
  });

  it('is 1/2 on a tie, 1 when separated, 0 when reversed', () => {
    expect(rocAuc([0.5, 0.5], [1, 0])).toBe(0.5);
    expect(rocAuc([0.9, 0.1, 0.2], [1, 0, 0])).toBe(1);
    expect(rocAuc([0.1, 0.9], [1, 0])).toBe(0);
  });
});

describe('equal error rate and threshold (hand-made cases)', () => {
  it('finds the EER at an operating point when FAR and FRR meet there', () => {
    // same 0.9 0.8 0.6 0.3 / different 0.7 0.5 0.4 0.2; at threshold 0.6: accepted same 3/4 (FRR 1/4), different 1/4.
    const { scores, pos } = pairsOf([0.9, 0.8, 0.6, 0.3], [0.7, 0.5, 0.4, 0.2]);
    const c = rocCurve(scores, pos);
    expect(Array.from(c.thresholds)).toEqual([Infinity, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2]);
    expect(Array.from(c.far)).toEqual([0, 0, 0, 0.25, 0.25, 0.5, 0.75, 0.75, 1]);
    expect(Array.from(c.tar)).toEqual([0, 0.25, 0.5, 0.5, 0.75, 0.75, 0.75, 1, 1]);
    expect(equalErrorRate(c)).toEqual({ eer: 0.25, threshold: 0.6 });
    // FAR <= 0.001: only thresholds that accept no different pair: the lowest is 0.8 (TAR 1/2).
    expect(thresholdAtFar(c, 0.001)).toEqual({ threshold: 0.8, far: 0, tar: 0.5 });
    expect(thresholdAtFar(c, 0.3)).toEqual({ threshold: 0.6, far: 0.25, tar: 0.75 });
    expect(thresholdAtFar(c, 1)).toEqual({ threshold: 0.2, far: 1, tar: 1 });
    expect(rocAuc(scores, pos)).toBeCloseTo(bruteAuc(scores, pos), 15);
  });

  it('interpolates between the two operating points that bracket FAR = FRR', () => {
    // same 0.9 0.5 / different 0.8 0.7 0.1. At 0.8: FAR 1/3, FRR 1/2; at 0.7: FAR 2/3, FRR 1/2.
    // FAR - FRR goes -1/6 -> +1/6: halfway, EER = 1/2 at threshold 0.75.
    const { scores, pos } = pairsOf([0.9, 0.5], [0.8, 0.7, 0.1]);
    const e = equalErrorRate(rocCurve(scores, pos));
    expect(e.eer).toBeCloseTo(0.5, 12);
    expect(e.threshold).toBeCloseTo(0.75, 12);
    expect(rocAuc(scores, pos)).toBeCloseTo(4 / 6, 15);
  });

  it('accepts nothing when the best-scoring pair is already a different pair', () => {
    const { scores, pos } = pairsOf([0.5], [0.9, 0.1]);
    const t = thresholdAtFar(rocCurve(scores, pos), 0.001);
    expect(t.threshold).toBe(nextUp(0.9));
    expect(t.threshold).toBeGreaterThan(0.9);
    expect(t).toMatchObject({ far: 0, tar: 0 });
    const s = summarizeVerification(scores, pos, 0.001);
    expect(s).toMatchObject({ threshold: nextUp(0.9), far_target: 0.001, far: 0, tar: 0, auc: 0.5 });
  });

  it('reaches EER 0 on separable scores', () => {
    const { scores, pos } = pairsOf([0.9, 0.8], [0.3, 0.2, 0.1]);
    const e = equalErrorRate(rocCurve(scores, pos));
    expect(e.eer).toBe(0);
    expect(e.threshold).toBe(0.8);
  });
});

describe('verification pairs', () => {
  it('takes every pair of a small split', () => {
    const labels = Int32Array.from([0, 0, 1, 1, 1, 2]);
    const p = verificationPairs(labels, 1000, new Rng('p'));
    expect(p.sampling).toBe('all');
    expect(p.a.length).toBe(15);
    expect(p.nSame).toBe(1 + 3);
    expect(p.nDifferent).toBe(11);
    expect(pairCounts(labels)).toEqual({ same: 4, different: 11 });
    for (let t = 0; t < p.a.length; t++) {
      expect(p.a[t]).toBeLessThan(p.b[t]);
      expect(p.same[t]).toBe(labels[p.a[t]] === labels[p.b[t]] ? 1 : 0);
    }
  });

  it('samples balanced, distinct, seeded pairs from a big split, uniformly over pairs', () => {
    const sizes = [400, 100, 50, 30, 20];
    const labels = new Int32Array(sizes.flatMap((s, c) => Array(s).fill(c)));
    new Rng('shuffle').shuffle(labels);
    const { same: S, different: D } = pairCounts(labels);
    const p = verificationPairs(labels, 20000, new Rng('pairs'));
    expect(p.sampling).toBe('sampled');
    expect(p.nSame).toBe(10000);
    expect(p.nDifferent).toBe(10000);
    const keys = new Set<number>();
    const sameByClass = sizes.map(() => 0);
    let diffWithBig = 0;
    for (let t = 0; t < p.a.length; t++) {
      expect(p.a[t]).toBeLessThan(p.b[t]);
      keys.add(p.a[t] * labels.length + p.b[t]);
      const la = labels[p.a[t]], lb = labels[p.b[t]];
      expect(p.same[t]).toBe(la === lb ? 1 : 0);
      if (la === lb) sameByClass[la]++;
      else if (la === 0 || lb === 0) diffWithBig++;
    }
    expect(keys.size).toBe(20000);
    // Uniform over same pairs: class c gets c(c-1)/2 / S of them (within 5 binomial sd).
    sizes.forEach((s, c) => {
      const pr = (s * (s - 1)) / 2 / S;
      expect(Math.abs(sameByClass[c] - 10000 * pr)).toBeLessThan(5 * Math.sqrt(10000 * pr * (1 - pr)) + 1);
    });
    // Uniform over different pairs: those touching class 0 are 400 * 200 / D of them.
    const pr = (400 * 200) / D;
    expect(Math.abs(diffWithBig - 10000 * pr)).toBeLessThan(5 * Math.sqrt(10000 * pr * (1 - pr)));
    // Same seed, same pairs; another seed, other pairs.
    expect(verificationPairs(labels, 20000, new Rng('pairs')).a).toEqual(p.a);
    expect(verificationPairs(labels, 20000, new Rng('other')).a).not.toEqual(p.a);
  });

  it('takes every different pair when there are fewer than the cap allows', () => {
    // One class of 300 and 2 loners: 44850 same pairs, 601 different ones (300 x 2 + 1).
    const labels = new Int32Array(302);
    labels[300] = 1; labels[301] = 2;
    const p = verificationPairs(labels, 10000, new Rng('few'));
    expect(p.nDifferent).toBe(601);
    expect(p.nSame).toBe(601);
  });

  it('maps pair numbers to the upper triangle in row-major order', () => {
    const size = 7;
    let p = 0;
    for (let i = 0; i < size; i++) for (let j = i + 1; j < size; j++) expect(trianglePair(p++, size)).toEqual([i, j]);
    // A big class: row starts are exact where float rounding could push the row off by one.
    const big = 100000;
    const before = (i: number) => i * (big - 1) - (i * (i - 1)) / 2;
    for (const i of [0, 1, 2, 31622, 70710, big - 3, big - 2]) {
      expect(trianglePair(before(i), big)).toEqual([i, i + 1]);
      expect(trianglePair(before(i + 1) - 1, big)).toEqual([i, big - 1]);
    }
  });

  it('scores pairs by the dot product of their rows', () => {
    const f = Float32Array.from([1, 0, 0.6, 0.8, 0, 1]);
    const s = pairSimilarities(f, 2, { a: Int32Array.from([0, 0, 1]), b: Int32Array.from([1, 2, 2]) });
    expect(Array.from(s).map((x) => Number(x.toFixed(6)))).toEqual([0.6, 0, 0.8]);
  });
});
