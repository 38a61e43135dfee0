import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { MultiSimilarityMiner } from '../src/losses/miners.ts';
import { SupConLoss } from '../src/losses/supcon.ts';
import type { Pairs } from '../src/losses/types.ts';
import {
  computeAndGradNoLeak, expectEmpty, expectGradClose, expectRel, finiteDiff, lossGrad, lossValue, makePairs, makeTriplets,
  pairLists, randomBatch, refMatrix, type Mat,
} from './losses-helpers.ts';

beforeAll(async () => { await tf.setBackend('cpu'); });

/** Khosla et al.'s L_out in float64 loops; with pairs, P(i) and A(i) come from the mined pairs (PML). */
function reference(x: Mat, labels: Int32Array, t: number, pairs?: Pairs) {
  const s = refMatrix(x, 'cosine');
  const n = labels.length;
  const pos: Set<number>[] = Array.from({ length: n }, () => new Set());
  const denom: Set<number>[] = Array.from({ length: n }, () => new Set());
  if (pairs) {
    const { pos: pp, neg } = pairLists(pairs);
    for (const [a, p] of pp) { pos[a].add(p); denom[a].add(p); }
    for (const [a, q] of neg) denom[a].add(q);
  } else {
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      if (i === j) continue;
      denom[i].add(j);
      if (labels[i] === labels[j]) pos[i].add(j);
    }
  }
  let total = 0;
  let anchors = 0;
  for (let i = 0; i < n; i++) {
    if (pos[i].size === 0) continue;
    const lse = Math.log([...denom[i]].reduce((acc, j) => acc + Math.exp(s[i][j] / t), 0));
    total += -[...pos[i]].reduce((acc, p) => acc + s[i][p] / t - lse, 0) / pos[i].size;
    anchors++;
  }
  return { value: anchors ? total / anchors : 0, anchors };
}

describe('SupConLoss', () => {
  const { x, labels } = randomBatch('supcon', 10, 6, 4);

  it('defaults to temperature 0.1', () => {
    expect(new SupConLoss().temperature).toBe(0.1);
  });

  for (const t of [0.1, 0.5]) {
    it(`matches the float64 reference and its gradient (T = ${t})`, () => {
      const l = new SupConLoss({ temperature: t });
      const want = reference(x, labels, t);
      expectRel(lossValue(l, x, labels), want.value);
      expect(l.lastStats()).toMatchObject({ anchors: want.anchors, anchors_without_positives: 10 - want.anchors, empty: 0 });
      expectGradClose(lossGrad(l, x, labels), finiteDiff((z) => reference(z, labels, t).value, x));
    });
  }

  it('leaves anchors without a positive out of the mean (counted)', () => {
    // Labels 7 and 8 appear once.
    const lab = Int32Array.from([0, 0, 1, 1, 1, 2, 2, 7, 8, 0]);
    const l = new SupConLoss({ temperature: 0.2 });
    const want = reference(x, lab, 0.2);
    expect(want.anchors).toBe(8);
    expectRel(lossValue(l, x, lab), want.value);
    expect(l.lastStats()).toEqual({ anchors: 8, anchors_without_positives: 2, positive_pairs: 2 * 3 + 3 * 2 + 2 + 0, empty: 0 });
  });

  it('uses mined pairs as PML does: their positives, and their pairs as the denominator', () => {
    const mined = new MultiSimilarityMiner({ distance: 'cosine', epsilon: 0.1 }).mine(tf.tensor2d(x), labels).tuples as Pairs;
    expect(mined.a1.length).toBeGreaterThan(0);
    const l = new SupConLoss({ temperature: 0.3 });
    const want = reference(x, labels, 0.3, mined);
    expectRel(lossValue(l, x, labels, mined), want.value);
    expect(want.value).not.toBeCloseTo(reference(x, labels, 0.3).value, 3);
    expectGradClose(lossGrad(l, x, labels, mined), finiteDiff((z) => reference(z, labels, 0.3, mined).value, x));
  });

  it('stays finite where a naive softmax overflows float32 (T = 0.005: logits up to 200)', () => {
    const l = new SupConLoss({ temperature: 0.005 });
    const got = lossValue(l, x, labels);
    expectRel(got, reference(x, labels, 0.005).value, 1e-4);
    expect(lossGrad(l, x, labels).flat().every(Number.isFinite)).toBe(true);
  });

  it('is 0 with empty = 1 and a zero gradient when no anchor has a positive', () => {
    expectEmpty(new SupConLoss(), x, Int32Array.from({ length: 10 }, (_, i) => i));
    expectEmpty(new SupConLoss(), x, labels, makePairs([], [[0, 1], [2, 3]]));
  });

  it('refuses triplets', () => {
    expect(() => new SupConLoss().compute(tf.tensor2d(x), labels, makeTriplets([[0, 1, 2]]))).toThrow(/not triplets/);
    expect(() => new SupConLoss({ temperature: 0 })).toThrow(/temperature/);
  });

  it('does not leak tensors', () => {
    computeAndGradNoLeak(new SupConLoss(), x, labels);
    computeAndGradNoLeak(new SupConLoss(), x, labels, makePairs([[0, 1]], [[0, 2]]));
  });
});
