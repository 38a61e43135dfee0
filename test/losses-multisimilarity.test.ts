import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { BatchHardMiner, MultiSimilarityMiner } from '../src/losses/miners.ts';
import { MultiSimilarityLoss } from '../src/losses/multisimilarity.ts';
import type { DistanceName, Tuples } from '../src/losses/types.ts';
import {
  computeAndGradNoLeak, expectEmpty, expectGradClose, expectRel, finiteDiff, lossGrad, lossValue, makePairs,
  pairLists, randomBatch, refMatrix, type Mat,
} from './losses-helpers.ts';

beforeAll(async () => { await tf.setBackend('cpu'); });

interface Params { distance: DistanceName; alpha: number; beta: number; base: number }

/** Wang et al.'s loss per anchor in float64 loops (a pair listed twice counts once), averaged over all anchors. */
function reference(x: Mat, labels: Int32Array, o: Params, tuples?: Tuples): number {
  const m = refMatrix(x, o.distance);
  const n = labels.length;
  const pos: Set<number>[] = Array.from({ length: n }, () => new Set());
  const neg: Set<number>[] = Array.from({ length: n }, () => new Set());
  if (tuples) {
    const l = pairLists(tuples);
    for (const [a, p] of l.pos) pos[a].add(p);
    for (const [a, q] of l.neg) neg[a].add(q);
  } else {
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) (labels[i] === labels[j] ? pos : neg)[i].add(j);
  }
  if (pos.every((s) => s.size === 0)) return 0;
  const cos = o.distance === 'cosine';
  let total = 0;
  for (let i = 0; i < n; i++) {
    const p = [...pos[i]].reduce((s, j) => s + Math.exp(cos ? -o.alpha * (m[i][j] - o.base) : o.alpha * (m[i][j] - o.base)), 0);
    const q = [...neg[i]].reduce((s, j) => s + Math.exp(cos ? o.beta * (m[i][j] - o.base) : o.beta * (o.base - m[i][j])), 0);
    total += Math.log(1 + p) / o.alpha + Math.log(1 + q) / o.beta;
  }
  return total / n;
}

const cases: Params[] = [
  { distance: 'cosine', alpha: 2, beta: 50, base: 0.5 },
  { distance: 'cosine', alpha: 1, beta: 10, base: 0 },
  { distance: 'l2', alpha: 2, beta: 50, base: 1.2 },
];

describe('MultiSimilarityLoss', () => {
  const { x, labels } = randomBatch('ms', 10, 6, 3);
  const loss = (o: Params) => new MultiSimilarityLoss(o);

  it('has PML defaults (alpha 2, beta 50, base 0.5, cosine)', () => {
    const l = new MultiSimilarityLoss();
    expect([l.distance, l.alpha, l.beta, l.base]).toEqual(['cosine', 2, 50, 0.5]);
  });

  for (const o of cases) {
    const name = `${o.distance} alpha ${o.alpha} beta ${o.beta} base ${o.base}`;
    it(`matches the float64 reference and its gradient over all pairs (${name})`, () => {
      const l = loss(o);
      expectRel(lossValue(l, x, labels), reference(x, labels, o));
      expect(l.lastStats()).toMatchObject({ anchors: 10, empty: 0 });
      expectGradClose(lossGrad(l, x, labels), finiteDiff((z) => reference(z, labels, o), x));
    });
  }

  it('uses only mined pairs (masks from the tuples), value and gradient', () => {
    const o = cases[0];
    const mined = new MultiSimilarityMiner({ distance: 'cosine', epsilon: 0.1 }).mine(tf.tensor2d(x), labels).tuples;
    const l = loss(o);
    const want = reference(x, labels, o, mined);
    expect(want).not.toBeCloseTo(reference(x, labels, o), 4);
    expectRel(lossValue(l, x, labels, mined), want);
    expect(l.lastStats()).toMatchObject({ pos_pairs: pairLists(mined).pos.length, neg_pairs: pairLists(mined).neg.length });
    expectGradClose(lossGrad(l, x, labels, mined), finiteDiff((z) => reference(z, labels, o, mined), x));
  });

  it('splits triplets into pairs and counts a repeated pair once', () => {
    const o = cases[2];
    const mined = new BatchHardMiner({ distance: 'l2' }).mine(tf.tensor2d(x), labels).tuples;
    expectRel(lossValue(loss(o), x, labels, mined), reference(x, labels, o, mined));
    const twice = makePairs([[0, 1], [0, 1]], [[0, 2]]);
    const l = loss(o);
    expectRel(lossValue(l, x, labels, twice), reference(x, labels, o, makePairs([[0, 1]], [[0, 2]])));
    expect(l.lastStats()).toMatchObject({ pos_pairs: 1, neg_pairs: 1, anchors: 1 });
  });

  it('stays finite where a naive log(1 + sum exp) overflows float32 (beta 50 at base -1.5: exponents past 88.7)', () => {
    const o = { distance: 'cosine' as const, alpha: 2, beta: 50, base: -1.5 };
    const got = lossValue(loss(o), x, labels);
    // Some negative pair's exponent is past ln(float32 max) = 88.7: a naive float32 exp would be inf.
    const s = refMatrix(x, 'cosine');
    const exponents = s.flatMap((row, i) => row.filter((_, j) => labels[i] !== labels[j]).map((v) => 50 * (v + 1.5)));
    expect(Math.max(...exponents)).toBeGreaterThan(88.8);
    expectRel(got, reference(x, labels, o));
    expect(lossGrad(loss(o), x, labels).flat().every(Number.isFinite)).toBe(true);
  });

  it('is 0 with empty = 1 and a zero gradient when there is no positive pair', () => {
    expectEmpty(loss(cases[0]), x, Int32Array.from({ length: 10 }, (_, i) => i));
    expectEmpty(loss(cases[0]), x, labels, makePairs([], []));
  });

  it('does not leak tensors', () => {
    computeAndGradNoLeak(loss(cases[0]), x, labels);
    computeAndGradNoLeak(loss(cases[2]), x, labels, makePairs([[0, 1]], [[0, 2]]));
  });
});
