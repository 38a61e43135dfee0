import { describe, it, expect } from 'vitest';
import { sampleEpisodes, episodeAccuracy, meanWithCi95, fewShotEval } from '../src/eval/fewshot.ts';
import { l2normalize } from '../src/eval/knn.ts';
import { Rng } from '../src/util/rng.ts';
import { UserError } from '../src/util/errors.ts';

const labels = Int32Array.from({ length: 100 }, (_, i) => i % 10); // 10 classes x 10 items

describe('few-shot episodes', () => {
  it('are reproducible from the seed and differ across seeds', () => {
    const spec = { ways: 3, shots: 2, queries: 4, episodes: 20 };
    const a = sampleEpisodes(labels, [5, 6, 7, 8, 9], spec, new Rng(11));
    const b = sampleEpisodes(labels, [5, 6, 7, 8, 9], spec, new Rng(11));
    const c = sampleEpisodes(labels, [5, 6, 7, 8, 9], spec, new Rng(12));
    expect(JSON.stringify(a.map((e) => [e.classes, [...e.support], [...e.query]])))
      .toBe(JSON.stringify(b.map((e) => [e.classes, [...e.support], [...e.query]])));
    expect(JSON.stringify(a.map((e) => [...e.query]))).not.toBe(JSON.stringify(c.map((e) => [...e.query])));
  });

  it('draw only held-out classes, distinct classes per episode, disjoint support and query', () => {
    const held = [5, 6, 7, 8, 9];
    const eps = sampleEpisodes(labels, held, { ways: 5, shots: 3, queries: 5, episodes: 50 }, new Rng(1));
    const seenClasses = new Set<number>();
    for (const ep of eps) {
      expect(new Set(ep.classes).size).toBe(5);
      for (const c of ep.classes) { expect(held).toContain(c); seenClasses.add(c); }
      const s = new Set(ep.support);
      for (const q of ep.query) expect(s.has(q)).toBe(false);
      expect(new Set(ep.query).size).toBe(ep.query.length);
      ep.classes.forEach((c, w) => {
        for (let k = 0; k < 3; k++) expect(labels[ep.support[w * 3 + k]]).toBe(c);
        for (let k = 0; k < 5; k++) expect(labels[ep.query[w * 5 + k]]).toBe(c);
      });
    }
    expect([...seenClasses].sort()).toEqual(held);
  });

  it('class choice is uniform: each of 5 classes appears in 2-way episodes ~40% of the time', () => {
    const eps = sampleEpisodes(labels, [0, 1, 2, 3, 4], { ways: 2, shots: 1, queries: 1, episodes: 2000 }, new Rng(3));
    const count = new Array(10).fill(0);
    for (const ep of eps) for (const c of ep.classes) count[c]++;
    // Binomial(2000, 0.4): sd ~ 21.9; 5 sd bound = 110.
    for (let c = 0; c < 5; c++) expect(Math.abs(count[c] - 800)).toBeLessThan(110);
  });

  it('rejects impossible specs with a user error', () => {
    expect(() => sampleEpisodes(labels, [1, 2], { ways: 3, shots: 1, queries: 1, episodes: 1 }, new Rng(0))).toThrow(UserError);
    expect(() => sampleEpisodes(labels, [1, 2], { ways: 2, shots: 5, queries: 6, episodes: 1 }, new Rng(0))).toThrow(UserError);
  });

  it('nearest class mean is exact on a hand-made episode', () => {
    // Class prototypes along x and y; query 2 lies nearer y although labelled as class 0.
    const f = l2normalize(new Float32Array([1, 0, 1, 0.2, 0, 1, 0.1, 1, 1, 0.1, 0.2, 1]), 2);
    const ep = { classes: [0, 1], support: new Int32Array([0, 2]), query: new Int32Array([4, 5, 3, 1]) };
    // Queries for class 0: rows 4 (x-ish, right), 5 (y-ish, wrong); class 1: rows 3 (right), 1 (wrong: x-ish).
    expect(episodeAccuracy(f, 2, ep)).toBe(0.5);
  });

  it('mean and 95% interval are hand-computed', () => {
    const { mean, ci95 } = meanWithCi95([0.5, 1, 0.75, 0.75]);
    expect(mean).toBe(0.75);
    // sample sd = sqrt((0.0625 + 0.0625) / 3) = 0.2041; ci = 1.96 * 0.2041 / 2
    expect(ci95).toBeCloseTo(1.96 * Math.sqrt(0.125 / 3) / 2, 12);
  });

  it('perfectly clustered embeddings give accuracy 1', () => {
    const dim = 10;
    const rng = new Rng(4);
    const f = new Float32Array(100 * dim);
    for (let i = 0; i < 100; i++) for (let j = 0; j < dim; j++) f[i * dim + j] = (j === labels[i] ? 1 : 0) + 0.05 * rng.normal();
    const r = fewShotEval(l2normalize(f, dim), labels, dim, [], { ways: 5, shots: 1, queries: 3, episodes: 30 }, new Rng(0));
    expect(r.accuracy).toBe(1);
    expect(r.ci95).toBe(0);
    expect(r.classes).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});
