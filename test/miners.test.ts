import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { hostPairwise, type HostPairwise } from '../src/losses/distances.ts';
import {
  ALL_TRIPLETS_LIMIT, AllPairsMiner, AllTripletsMiner, BatchHardMiner, MultiSimilarityMiner, SemiHardMiner,
} from '../src/losses/miners.ts';
import { TripletMarginLoss } from '../src/losses/triplet.ts';
import type { DistanceName, Miner, MinerOutput, Pairs, Triplets } from '../src/losses/types.ts';
import { isUserError } from '../src/util/errors.ts';
import { Rng } from '../src/util/rng.ts';
import { expectEmpty, pairLists, randomBatch, refAllPairs, refAllTriplets, refMatrix, tripletList, type Mat } from './losses-helpers.ts';

beforeAll(async () => { await tf.setBackend('cpu'); });

function mine(m: Miner, x: Mat, labels: Int32Array): MinerOutput {
  const e = tf.tensor2d(x);
  const out = m.mine(e, labels);
  e.dispose();
  return out;
}

function host(x: Mat, distance: DistanceName): HostPairwise {
  const e = tf.tensor2d(x);
  const hp = hostPairwise(e, distance);
  e.dispose();
  return hp;
}

/** Larger = farther, read from the same host matrix the miner reads. */
function farOf(hp: HostPairwise) {
  return (i: number, j: number) => (hp.similarity ? -1 : 1) * hp.dist[i * hp.n + j];
}

type T3 = [number, number, number];

/** Hermans et al.: per anchor the farthest positive and the closest negative, scanning every row; first (lowest) index wins ties. */
function bruteBatchHard(hp: HostPairwise, labels: Int32Array): T3[] {
  const far = farOf(hp);
  const out: T3[] = [];
  for (let a = 0; a < labels.length; a++) {
    let p = -1;
    let q = -1;
    for (let j = 0; j < labels.length; j++) {
      if (j === a) continue;
      if (labels[j] === labels[a]) { if (p < 0 || far(a, j) > far(a, p)) p = j; } else if (q < 0 || far(a, j) < far(a, q)) q = j;
    }
    if (p >= 0 && q >= 0) out.push([a, p, q]);
  }
  return out;
}

/** FaceNet's semi-hard negative per (anchor, positive): 0 < far_an - far_ap <= margin, the closest such, lowest index on ties. */
function bruteSemiHard(hp: HostPairwise, labels: Int32Array, margin: number): { triplets: T3[]; dropped: number } {
  const far = farOf(hp);
  const triplets: T3[] = [];
  let dropped = 0;
  for (let a = 0; a < labels.length; a++) for (let p = 0; p < labels.length; p++) {
    if (p === a || labels[p] !== labels[a]) continue;
    let best = -1;
    for (let q = 0; q < labels.length; q++) {
      if (labels[q] === labels[a]) continue;
      const gap = far(a, q) - far(a, p);
      if (gap > 0 && gap <= margin && (best < 0 || far(a, q) < far(a, best))) best = q;
    }
    if (best >= 0) triplets.push([a, p, best]); else dropped++;
  }
  return { triplets, dropped };
}

/** Wang et al.'s mining written in similarities (cosine) or distances (l2), as the paper and PML state it. */
function bruteMultiSimilarity(hp: HostPairwise, labels: Int32Array, eps: number) {
  const v = (i: number, j: number) => hp.dist[i * hp.n + j];
  const pos: [number, number][] = [];
  const neg: [number, number][] = [];
  for (let a = 0; a < labels.length; a++) {
    const ps = [...labels.keys()].filter((j) => j !== a && labels[j] === labels[a]);
    const ns = [...labels.keys()].filter((j) => labels[j] !== labels[a]);
    if (!ps.length || !ns.length) continue;
    if (hp.similarity) {
      const minPos = Math.min(...ps.map((j) => v(a, j)));
      const maxNeg = Math.max(...ns.map((j) => v(a, j)));
      for (const j of ps) if (v(a, j) - eps < maxNeg) pos.push([a, j]);
      for (const j of ns) if (v(a, j) + eps > minPos) neg.push([a, j]);
    } else {
      const maxPos = Math.max(...ps.map((j) => v(a, j)));
      const minNeg = Math.min(...ns.map((j) => v(a, j)));
      for (const j of ps) if (v(a, j) + eps > minNeg) pos.push([a, j]);
      for (const j of ns) if (v(a, j) - eps < maxPos) neg.push([a, j]);
    }
  }
  return { pos, neg };
}

function meanSim(hp: HostPairwise, pairs: [number, number][]): number {
  return pairs.length ? pairs.reduce((s, [i, j]) => s + hp.sim[i * hp.n + j], 0) / pairs.length : 0;
}

function expectTripletStats(out: MinerOutput, hp: HostPairwise, expected: T3[]): void {
  expect(out.stats.triplets).toBe(expected.length);
  expect(out.stats.mean_pos_sim).toBeCloseTo(meanSim(hp, expected.map(([a, p]) => [a, p])), 10);
  expect(out.stats.mean_neg_sim).toBeCloseTo(meanSim(hp, expected.map(([a, , q]) => [a, q])), 10);
}

// Exact ties: rows 1 and 2 are the same vector (anchor 0's two farthest positives), as are 3 and 4
// (anchor 0's two closest negatives; 3, 4, 6 are the three closest negatives of anchor 5 at 1/sqrt 2).
const tieX: Mat = [[1, 0, 0], [0, 1, 0], [0, 1, 0], [1, 1, 0], [1, 1, 0], [1, 0, 1], [0, 1, 1], [0, 0, 1]];
const tieLabels = Int32Array.from([0, 0, 0, 1, 1, 0, 1, 1]);

describe('hostPairwise', () => {
  it('reads the cosine and l2 matrices of the normalized rows (float64 reference)', () => {
    const { x } = randomBatch('host', 9, 5, 3);
    for (const distance of ['cosine', 'l2'] as const) {
      const hp = host(x, distance);
      const ref = refMatrix(x, distance);
      expect(hp.similarity).toBe(distance === 'cosine');
      for (let i = 0; i < 9; i++) for (let j = 0; j < 9; j++) {
        if (i !== j) expect(Math.abs(hp.dist[i * 9 + j] - ref[i][j])).toBeLessThan(2e-6);
        expect(Math.abs(hp.sim[i * 9 + j] - refMatrix(x, 'cosine')[i][j])).toBeLessThan(1e-6);
      }
    }
  });
});

describe('AllPairsMiner', () => {
  it('gives every ordered pair and its mean similarities', () => {
    const { x, labels } = randomBatch('pairs', 9, 5, 3);
    const out = mine(new AllPairsMiner(), x, labels);
    const hp = host(x, 'cosine');
    const ref = refAllPairs(labels);
    expect(pairLists(out.tuples)).toEqual(ref);
    expect(out.stats).toMatchObject({ pos_pairs: ref.pos.length, neg_pairs: ref.neg.length, anchors_skipped: 0 });
    expect(out.stats.mean_pos_sim).toBeCloseTo(meanSim(hp, ref.pos), 10);
    expect(out.stats.mean_neg_sim).toBeCloseTo(meanSim(hp, ref.neg), 10);
  });
});

describe('AllTripletsMiner', () => {
  const { x, labels } = randomBatch('triplets', 9, 5, 3);

  it('gives every triplet in (anchor, positive, negative) order', () => {
    const out = mine(new AllTripletsMiner(), x, labels);
    const ref = refAllTriplets(labels);
    expect(tripletList(out.tuples as Triplets)).toEqual(ref);
    expect(out.stats).toMatchObject({ triplets_available: ref.length, anchors_skipped: 0 });
    expectTripletStats(out, host(x, 'cosine'), ref);
  });

  it('caps to a seeded uniform subset without repeats, in enumeration order', () => {
    const ref = refAllTriplets(labels).map((t) => t.join());
    const a = tripletList(mine(new AllTripletsMiner({ maxTriplets: 10, rng: new Rng('cap') }), x, labels).tuples as Triplets).map((t) => t.join());
    const b = tripletList(mine(new AllTripletsMiner({ maxTriplets: 10, rng: new Rng('cap') }), x, labels).tuples as Triplets).map((t) => t.join());
    const c = tripletList(mine(new AllTripletsMiner({ maxTriplets: 10, rng: new Rng('other') }), x, labels).tuples as Triplets).map((t) => t.join());
    expect(a).toHaveLength(10);
    expect(new Set(a).size).toBe(10);
    expect(a.every((t) => ref.includes(t))).toBe(true);
    expect(a.map((t) => ref.indexOf(t))).toEqual(a.map((t) => ref.indexOf(t)).sort((p, q) => p - q));
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
    // A cap at or above the count is every triplet.
    expect(mine(new AllTripletsMiner({ maxTriplets: 10_000, rng: new Rng('cap') }), x, labels).stats.triplets).toBe(ref.length);
  });

  it('draws every triplet equally often', () => {
    const lab = Int32Array.from([0, 0, 1, 1, 2]); // 12 triplets
    const miner = new AllTripletsMiner({ maxTriplets: 4, rng: new Rng('uniform') });
    const counts = new Map<string, number>();
    const e = tf.tensor2d(x.slice(0, 5));
    for (let i = 0; i < 3000; i++) {
      for (const t of tripletList(miner.mine(e, lab).tuples as Triplets)) counts.set(t.join(), (counts.get(t.join()) ?? 0) + 1);
    }
    e.dispose();
    expect(counts.size).toBe(12);
    // Each triplet: Binomial(3000, 1/3), mean 1000, sd 25.8; 5 sd either side.
    for (const v of counts.values()) expect(Math.abs(v - 1000)).toBeLessThan(130);
  });

  it('refuses more triplets than it can hand over, naming the key', () => {
    const big = Int32Array.from({ length: 512 }, (_, i) => i % 2); // 512 x 255 x 256 = 33M triplets
    const e = tf.zeros([512, 2]) as tf.Tensor2D;
    let err: unknown;
    try { new AllTripletsMiner().mine(e, big); } catch (caught) { err = caught; }
    expect(isUserError(err)).toBe(true);
    expect((err as Error).message).toMatch(/method\.max_triplets/);
    expect(new AllTripletsMiner({ maxTriplets: 5, rng: new Rng('x') }).mine(e, big).stats).toMatchObject({ triplets: 5, triplets_available: 512 * 255 * 256 });
    e.dispose();
    expect(ALL_TRIPLETS_LIMIT).toBeLessThan(512 * 255 * 256);
  });
});

describe('BatchHardMiner', () => {
  for (const distance of ['cosine', 'l2'] as const) {
    it(`equals brute force on random batches (${distance})`, () => {
      for (const seed of ['bh1', 'bh2', 'bh3']) {
        const { x, labels } = randomBatch(seed, 12, 4, 4);
        const out = mine(new BatchHardMiner({ distance }), x, labels);
        const want = bruteBatchHard(host(x, distance), labels);
        expect(tripletList(out.tuples as Triplets)).toEqual(want);
        expectTripletStats(out, host(x, 'cosine'), want);
      }
    });
  }

  it('breaks exact ties by the lowest index and skips anchors without a positive or negative', () => {
    const out = mine(new BatchHardMiner({ distance: 'cosine' }), tieX, tieLabels);
    const t = tripletList(out.tuples as Triplets);
    expect(t[0]).toEqual([0, 1, 3]); // positives 1, 2 tie (similarity 0); negatives 3, 4 tie (1/sqrt 2)
    expect(t).toEqual(bruteBatchHard(host(tieX, 'cosine'), tieLabels));
    const single = mine(new BatchHardMiner({ distance: 'l2' }), tieX.slice(0, 4), Int32Array.from([0, 0, 0, 1]));
    expect(single.stats).toMatchObject({ triplets: 3, anchors_skipped: 1 }); // row 3 has no positive
  });
});

describe('SemiHardMiner', () => {
  for (const [distance, margin] of [['cosine', 0.3], ['l2', 0.2], ['cosine', 2]] as const) {
    it(`equals brute force on random batches (${distance}, margin ${margin})`, () => {
      for (const seed of ['sh1', 'sh2', 'sh3']) {
        const { x, labels } = randomBatch(seed, 12, 4, 4);
        const out = mine(new SemiHardMiner({ distance, margin }), x, labels);
        const want = bruteSemiHard(host(x, distance), labels, margin);
        expect(tripletList(out.tuples as Triplets)).toEqual(want.triplets);
        expect(out.stats.pairs_dropped).toBe(want.dropped);
        expectTripletStats(out, host(x, 'cosine'), want.triplets);
      }
    });
  }

  it('breaks exact ties by the lowest index', () => {
    const out = mine(new SemiHardMiner({ distance: 'cosine', margin: 0.5 }), tieX, tieLabels);
    const t = tripletList(out.tuples as Triplets);
    expect(t).toEqual(bruteSemiHard(host(tieX, 'cosine'), tieLabels, 0.5).triplets);
    // Anchor 5 with positive 0 (similarity 1/sqrt 2): negatives 3 (1/2), 4 (1/2), 6 (1/2), 7 (1/sqrt 2) -> 3 among the tied.
    expect(t.filter(([a, p]) => a === 5 && p === 0)).toEqual([[5, 0, 3]]);
  });

  it('finds none in well separated clusters: every pair dropped, and the triplet loss is empty', () => {
    const x: Mat = [[1, 0.01], [1, -0.01], [-1, 0.01], [-1, -0.02]];
    const lab = Int32Array.from([0, 0, 1, 1]);
    const out = mine(new SemiHardMiner({ distance: 'l2', margin: 0.1 }), x, lab);
    expect(out.stats).toMatchObject({ triplets: 0, pairs_dropped: 4, anchors_skipped: 4, mean_pos_sim: 0, mean_neg_sim: 0 });
    expectEmpty(new TripletMarginLoss({ margin: 0.1 }), x, lab, out.tuples);
  });
});

describe('MultiSimilarityMiner', () => {
  for (const [distance, eps] of [['cosine', 0.1], ['l2', 0.1], ['cosine', 0]] as const) {
    it(`equals brute force on random batches (${distance}, epsilon ${eps})`, () => {
      for (const seed of ['ms1', 'ms2', 'ms3']) {
        const { x, labels } = randomBatch(seed, 12, 4, 4);
        const out = mine(new MultiSimilarityMiner({ distance, epsilon: eps }), x, labels);
        const want = bruteMultiSimilarity(host(x, distance), labels, eps);
        expect(pairLists(out.tuples as Pairs)).toEqual(want);
        const hp = host(x, 'cosine');
        expect(out.stats).toMatchObject({ pos_pairs: want.pos.length, neg_pairs: want.neg.length });
        expect(out.stats.mean_pos_sim).toBeCloseTo(meanSim(hp, want.pos), 10);
        expect(out.stats.mean_neg_sim).toBeCloseTo(meanSim(hp, want.neg), 10);
        const all = refAllPairs(labels);
        expect(want.pos.length + want.neg.length).toBeLessThan(all.pos.length + all.neg.length);
      }
    });
  }

  it('skips anchors without both a positive and a negative', () => {
    const out = mine(new MultiSimilarityMiner({ distance: 'cosine', epsilon: 0.1 }), tieX, Int32Array.from([0, 0, 0, 1, 1, 0, 1, 2]));
    expect(out.stats.anchors_skipped).toBeGreaterThanOrEqual(1); // row 7 has no positive
    expect(pairLists(out.tuples).pos.every(([a]) => a !== 7)).toBe(true);
    expect(pairLists(out.tuples).neg.every(([a]) => a !== 7)).toBe(true);
  });
});

describe('miners and memory', () => {
  const { x, labels } = randomBatch('mem', 10, 4, 3);
  const miners: Miner[] = [
    new AllPairsMiner(), new AllTripletsMiner({ maxTriplets: 5, rng: new Rng('m') }), new BatchHardMiner({ distance: 'l2' }),
    new SemiHardMiner({ distance: 'cosine', margin: 0.2 }), new MultiSimilarityMiner({ distance: 'l2', epsilon: 0.1 }),
  ];

  it('leave the tensor count flat, also when run under a gradient tape', () => {
    const e = tf.tensor2d(x);
    const loss = new TripletMarginLoss();
    for (const m of miners) {
      m.mine(e, labels);
      const before = tf.memory().numTensors;
      m.mine(e, labels);
      expect(tf.memory().numTensors).toBe(before);
      // As a method calls it: inside the loss function being differentiated.
      const g = tf.grad((t: tf.Tensor) => { m.mine(t as tf.Tensor2D, labels); return loss.compute(t as tf.Tensor2D, labels); })(e);
      g.dispose();
      expect(tf.memory().numTensors).toBe(before);
    }
    e.dispose();
  });
});
