import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ContrastiveLoss } from '../src/losses/contrastive.ts';
import { BatchHardMiner, MultiSimilarityMiner } from '../src/losses/miners.ts';
import type { DistanceName, Tuples } from '../src/losses/types.ts';
import {
  computeAndGradNoLeak, expectEmpty, expectGradClose, expectRel, finiteDiff, lossGrad, lossValue, makePairs,
  pairLists, randomBatch, refAllPairs, refMatrix, type Mat,
} from './losses-helpers.ts';

beforeAll(async () => { await tf.setBackend('cpu'); });

/** Hadsell et al.'s pair loss with PML's per-sub-loss average over non-zero pairs, in float64 loops. */
function reference(x: Mat, labels: Int32Array, distance: DistanceName, pm: number, nm: number, tuples?: Tuples) {
  const m = refMatrix(x, distance);
  const { pos, neg } = tuples ? pairLists(tuples) : refAllPairs(labels);
  const sim = distance === 'cosine';
  const posL = pos.map(([a, p]) => Math.max(0, sim ? pm - m[a][p] : m[a][p] - pm));
  const negL = neg.map(([a, q]) => Math.max(0, sim ? m[a][q] - nm : nm - m[a][q]));
  const avgNonZero = (l: number[]) => { const nz = l.filter((v) => v > 0); return nz.length ? nz.reduce((s, v) => s + v, 0) / nz.length : 0; };
  return {
    value: pos.length === 0 ? 0 : avgNonZero(posL) + avgNonZero(negL),
    nonzeroPos: posL.filter((v) => v > 0).length,
    nonzeroNeg: negL.filter((v) => v > 0).length,
    pos: pos.length, neg: neg.length,
  };
}

const cases: { distance: DistanceName; pm?: number; nm?: number; defaults: [number, number] }[] = [
  { distance: 'cosine', defaults: [1, 0] },
  { distance: 'l2', defaults: [0, 1] },
  // Margins that leave some pairs at zero loss, so the non-zero average matters.
  { distance: 'cosine', pm: 0.3, nm: -0.1, defaults: [0.3, -0.1] },
  { distance: 'l2', pm: 1.1, nm: 1.3, defaults: [1.1, 1.3] },
];

describe('ContrastiveLoss', () => {
  const { x, labels } = randomBatch('contrastive', 10, 6, 3);

  for (const c of cases) {
    const name = `${c.distance} pos ${c.defaults[0]} neg ${c.defaults[1]}`;
    const loss = () => new ContrastiveLoss({ distance: c.distance, posMargin: c.pm, negMargin: c.nm });

    it(`matches the float64 reference over all pairs (${name})`, () => {
      const l = loss();
      expect([l.posMargin, l.negMargin]).toEqual(c.defaults);
      const want = reference(x, labels, c.distance, ...c.defaults);
      expectRel(lossValue(l, x, labels), want.value);
      expect(l.lastStats()).toEqual({ pos_pairs: want.pos, neg_pairs: want.neg, nonzero_pos: want.nonzeroPos, nonzero_neg: want.nonzeroNeg, empty: 0 });
      if (c.pm !== undefined) expect(want.nonzeroPos + want.nonzeroNeg).toBeLessThan(want.pos + want.neg);
    });

    it(`has the reference's gradient (${name})`, () => {
      const fd = finiteDiff((z) => reference(z, labels, c.distance, ...c.defaults).value, x);
      expectGradClose(lossGrad(loss(), x, labels), fd);
    });
  }

  it('uses only mined pairs (multi-similarity miner) and matches the reference, value and gradient', () => {
    const mined = new MultiSimilarityMiner({ distance: 'cosine', epsilon: 0.1 }).mine(tf.tensor2d(x), labels).tuples;
    const all = refAllPairs(labels);
    const p = pairLists(mined);
    expect(p.pos.length).toBeGreaterThan(0);
    expect(p.pos.length + p.neg.length).toBeLessThan(all.pos.length + all.neg.length);
    const l = new ContrastiveLoss({ distance: 'cosine', posMargin: 0.9, negMargin: 0.2 });
    const want = reference(x, labels, 'cosine', 0.9, 0.2, mined);
    expectRel(lossValue(l, x, labels, mined), want.value);
    expect(l.lastStats().pos_pairs).toBe(p.pos.length);
    expectGradClose(lossGrad(l, x, labels, mined), finiteDiff((z) => reference(z, labels, 'cosine', 0.9, 0.2, mined).value, x));
  });

  it('splits mined triplets into their (a, p) and (a, n) pairs', () => {
    const mined = new BatchHardMiner({ distance: 'l2' }).mine(tf.tensor2d(x), labels).tuples;
    expect(mined.kind).toBe('triplets');
    const l = new ContrastiveLoss({ distance: 'l2' });
    expectRel(lossValue(l, x, labels, mined), reference(x, labels, 'l2', 0, 1, mined).value);
    expect(l.lastStats().pos_pairs).toBe(pairLists(mined).pos.length);
  });

  it('is 0 with empty = 1 and a zero gradient when there is no positive pair', () => {
    const labels5 = Int32Array.from([0, 1, 2, 3, 4]);
    const x5 = x.slice(0, 5);
    expectEmpty(new ContrastiveLoss({ distance: 'cosine' }), x5, labels5);
    expect(new ContrastiveLoss().compute(tf.tensor2d(x), labels, makePairs([], [[0, 1]])).dataSync()[0]).toBe(0);
  });

  it('gives no NaN gradient for identical rows (l2 at distance 0)', () => {
    const twin = [x[0], x[0].slice(), x[1], x[2]];
    const g = lossGrad(new ContrastiveLoss({ distance: 'l2' }), twin, Int32Array.from([0, 0, 1, 1]));
    expect(g.flat().every(Number.isFinite)).toBe(true);
  });

  it('rejects tuples outside the batch', () => {
    expect(() => new ContrastiveLoss().compute(tf.tensor2d(x), labels, makePairs([[0, 10]], []))).toThrow(/outside a batch of 10/);
  });

  it('does not leak tensors', () => {
    computeAndGradNoLeak(new ContrastiveLoss({ distance: 'l2' }), x, labels);
    computeAndGradNoLeak(new ContrastiveLoss({ distance: 'cosine' }), x, labels, makePairs([[0, 1]], [[0, 2]]));
  });
});
