import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { AllTripletsMiner, BatchHardMiner, SemiHardMiner } from '../src/losses/miners.ts';
import { allTripletMargins, TripletMarginLoss } from '../src/losses/triplet.ts';
import type { DistanceName, Triplets } from '../src/losses/types.ts';
import { Rng } from '../src/util/rng.ts';
import {
  computeAndGradNoLeak, expectEmpty, expectGradClose, expectRel, finiteDiff, lossGrad, lossValue, makePairs, makeTriplets,
  randomBatch, refAllTriplets, refMatrix, tripletList, type Mat,
} from './losses-helpers.ts';

beforeAll(async () => { await tf.setBackend('cpu'); });

/** relu(d_ap - d_an + margin) (cosine: s_an - s_ap + margin) averaged over the non-zero triplets, in float64 loops. */
function reference(x: Mat, labels: Int32Array, distance: DistanceName, margin: number, squared: boolean, t?: Triplets) {
  const m = refMatrix(x, distance, squared);
  const list = t ? tripletList(t) : refAllTriplets(labels);
  const l = list.map(([a, p, q]) => Math.max(0, distance === 'cosine' ? m[a][q] - m[a][p] + margin : m[a][p] - m[a][q] + margin));
  const nz = l.filter((v) => v > 0);
  return { value: nz.length ? nz.reduce((s, v) => s + v, 0) / nz.length : 0, triplets: list.length, nonzero: nz.length };
}

const cases: { distance: DistanceName; margin: number; squared: boolean }[] = [
  { distance: 'l2', margin: 0.05, squared: false },
  { distance: 'l2', margin: 0.2, squared: true },
  { distance: 'cosine', margin: 0.1, squared: false },
];

describe('TripletMarginLoss', () => {
  const { x, labels } = randomBatch('triplet', 10, 6, 3);

  it('has PML defaults (l2, margin 0.05, not squared)', () => {
    const l = new TripletMarginLoss();
    expect([l.distance, l.margin, l.squared]).toEqual(['l2', 0.05, false]);
  });

  for (const c of cases) {
    const name = `${c.distance}${c.squared ? ' squared' : ''} margin ${c.margin}`;
    const loss = () => new TripletMarginLoss(c);

    it(`matches the float64 reference over all triplets (${name})`, () => {
      const l = loss();
      const want = reference(x, labels, c.distance, c.margin, c.squared);
      expectRel(lossValue(l, x, labels), want.value);
      expect(l.lastStats()).toEqual({ triplets: want.triplets, nonzero: want.nonzero, empty: 0 });
      expect(want.nonzero).toBeGreaterThan(0);
      expect(want.nonzero).toBeLessThan(want.triplets);
    });

    it(`has the reference's gradient over all triplets (${name})`, () => {
      const fd = finiteDiff((z) => reference(z, labels, c.distance, c.margin, c.squared).value, x);
      expectGradClose(lossGrad(loss(), x, labels), fd);
    });

    it(`gives what the mined path gives over every enumerated triplet, value and gradient (${name})`, () => {
      const e = tf.tensor2d(x);
      const every = new AllTripletsMiner().mine(e, labels).tuples;
      e.dispose();
      expectRel(lossValue(loss(), x, labels, every), lossValue(loss(), x, labels), 1e-6);
      const a = lossGrad(loss(), x, labels, every).flat();
      const b = lossGrad(loss(), x, labels).flat();
      a.forEach((g, k) => expect(Math.abs(g - b[k])).toBeLessThanOrEqual(1e-6));
    });
  }

  it('uses mined triplets (batch-hard, semi-hard) by flat index: value and gradient match the reference', () => {
    const e = tf.tensor2d(x);
    const hard = new BatchHardMiner({ distance: 'l2' }).mine(e, labels).tuples as Triplets;
    const semi = new SemiHardMiner({ distance: 'cosine', margin: 0.3 }).mine(e, labels).tuples as Triplets;
    e.dispose();
    for (const [t, distance, margin] of [[hard, 'l2', 0.3], [semi, 'cosine', 0.3]] as const) {
      expect(t.anchors.length).toBeGreaterThan(0);
      const l = new TripletMarginLoss({ distance, margin });
      const want = reference(x, labels, distance, margin, false, t);
      expectRel(lossValue(l, x, labels, t), want.value);
      expect(l.lastStats()).toEqual({ triplets: t.anchors.length, nonzero: want.nonzero, empty: 0 });
      expectGradClose(lossGrad(l, x, labels, t), finiteDiff((z) => reference(z, labels, distance, margin, false, t).value, x));
    }
  });

  it('is 0 with empty = 1 and a zero gradient when there is no triplet', () => {
    const distinct = Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expectEmpty(new TripletMarginLoss(), x, distinct);
    expectEmpty(new TripletMarginLoss({ distance: 'cosine' }), x, Int32Array.from({ length: 10 }, () => 3)); // no negatives
    expectEmpty(new TripletMarginLoss(), x, labels, makeTriplets([]));
  });

  it('is 0 (not empty) when every triplet satisfies the margin, with a zero gradient', () => {
    // Two tight, far-apart clusters.
    const pts = [[1, 0.01], [1, -0.01], [-1, 0.01], [-1, -0.02]];
    const l = new TripletMarginLoss({ margin: 0.05 });
    expect(lossValue(l, pts, Int32Array.from([0, 0, 1, 1]))).toBe(0);
    expect(l.lastStats()).toMatchObject({ triplets: 8, nonzero: 0, empty: 0 });
    expect(lossGrad(l, pts, Int32Array.from([0, 0, 1, 1])).flat().every((v) => v === 0)).toBe(true);
  });

  it('refuses pairs, and squared with cosine', () => {
    expect(() => new TripletMarginLoss().compute(tf.tensor2d(x), labels, makePairs([[0, 1]], [[0, 2]]))).toThrow(/needs triplets/);
    expect(() => new TripletMarginLoss({ distance: 'cosine', squared: true })).toThrow(/l2/);
  });

  it('does not leak tensors (all triplets, mined triplets)', () => {
    computeAndGradNoLeak(new TripletMarginLoss(), x, labels);
    computeAndGradNoLeak(new TripletMarginLoss({ distance: 'cosine' }), x, labels, makeTriplets([[0, 1, 2]]));
  });

  it('counts active triplets and their gradient weights exactly on a hand-worked anchor', () => {
    // Rows 0, 1 share a label; 2, 3 are negatives. Distances from row 0: d01 = 0.5, d02 = 0.4, d03 = 0.7.
    // margin 0.25: t(0,1,2) = 0.5 - 0.4 + 0.25 = 0.35, t(0,1,3) = 0.5 - 0.7 + 0.25 = 0.05 (both active).
    // From row 1: d10 = 0.5, d12 = 0.9, d13 = 0.8 -> t = -0.15, -0.05 (inactive).
    const d = Float32Array.from([0, 0.5, 0.4, 0.7, 0.5, 0, 0.9, 0.8, 0.4, 0.9, 0, 0.3, 0.7, 0.8, 0.3, 0]);
    const r = allTripletMargins(d, Int32Array.from([0, 0, 1, 1]), 1, 0.25);
    // Rows 2, 3 are each other's positives: t(2,3,0) = 0.3 - 0.4 + 0.25 = 0.15, t(2,3,1) = 0.3 - 0.9 + 0.25 < 0,
    // t(3,2,0) = 0.3 - 0.7 + 0.25 < 0, t(3,2,1) = 0.3 - 0.8 + 0.25 < 0.
    expect(r.active).toBe(3);
    expect(r.sum).toBeCloseTo(0.35 + 0.05 + 0.15, 6);
    const w = Array.from(r.weights, (v) => Math.round(v * 3));
    expect(w).toEqual([0, 2, -1, -1, 0, 0, 0, 0, -1, 0, 0, 1, 0, 0, 0, 0]);
  });

  it('runs all 15.5M triplets of a 1024 x 64 batch without materializing them: value against float64, finite gradient', () => {
    const n = 1024;
    const d = 64;
    const rng = new Rng('triplet-1024');
    const data = new Float32Array(n * d).map(() => rng.normal());
    const labels1024 = Int32Array.from({ length: n }, (_, i) => i % 64);
    rng.shuffle(labels1024);
    const l = new TripletMarginLoss({ distance: 'l2', margin: 0.05 });
    const e = tf.tensor2d(data, [n, d]);
    const before = tf.memory().numTensors;
    const { value, grad } = tf.valueAndGrad((t: tf.Tensor) => l.compute(t as tf.Tensor2D, labels1024))(e);
    const got = value.dataSync()[0];
    const g = grad.dataSync();
    tf.dispose([value, grad]);
    expect(tf.memory().numTensors).toBe(before);
    expect(g.every(Number.isFinite)).toBe(true);
    expect(g.some((v) => v !== 0)).toBe(true);
    const stats = l.lastStats();
    expect(stats.triplets).toBe(n * 15 * (n - 16));

    // The value against a float64 pass over every triplet.
    const z: Mat = Array.from({ length: n }, (_, i) => Array.from(data.subarray(i * d, (i + 1) * d)));
    const m = refMatrix(z, 'l2');
    let sum = 0;
    let count = 0;
    for (let a = 0; a < n; a++) for (let p = 0; p < n; p++) {
      if (p === a || labels1024[p] !== labels1024[a]) continue;
      for (let q = 0; q < n; q++) {
        if (labels1024[q] === labels1024[a]) continue;
        const v = m[a][p] - m[a][q] + 0.05;
        if (v > 0) { sum += v; count++; }
      }
    }
    expectRel(got, sum / count, 1e-5);
    expect(Math.abs(stats.nonzero - count)).toBeLessThanOrEqual(count * 1e-5); // float32 vs float64 right at the kink
    e.dispose();
  });
});
