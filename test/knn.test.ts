import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { knnClassify, l2normalize, nearestNeighbours } from '../src/eval/knn.ts';
import { Rng } from '../src/util/rng.ts';

function randomFeatures(rng: Rng, n: number, dim: number): Float32Array {
  const f = new Float32Array(n * dim);
  for (let i = 0; i < f.length; i++) f[i] = rng.normal();
  return l2normalize(f, dim);
}

function randomLabels(rng: Rng, n: number, c: number): Int32Array {
  return Int32Array.from({ length: n }, () => rng.int(c));
}

/** Brute force in float64: full similarity rows, full sort, weighted votes, as in the MoCo demo. */
function bruteForce(
  train: Float32Array, trainLabels: Int32Array, test: Float32Array, testLabels: Int32Array, dim: number,
  k: number, t: number, c: number, weighting: 'exp' | 'majority',
) {
  const nTr = trainLabels.length;
  const nTe = testLabels.length;
  const preds = new Int32Array(nTe);
  let h1 = 0;
  let h5 = 0;
  for (let i = 0; i < nTe; i++) {
    const sims: { s: number; j: number }[] = [];
    for (let j = 0; j < nTr; j++) {
      let s = 0;
      for (let d = 0; d < dim; d++) s += test[i * dim + d] * train[j * dim + d];
      sims.push({ s, j });
    }
    sims.sort((a, b) => b.s - a.s || a.j - b.j);
    const score = new Array(c).fill(0);
    for (const { s, j } of sims.slice(0, Math.min(k, nTr))) score[trainLabels[j]] += weighting === 'exp' ? Math.exp(s / t) : 1;
    const order = [...score.keys()].sort((a, b) => score[b] - score[a] || a - b);
    preds[i] = order[0];
    if (order[0] === testLabels[i]) h1++;
    if (order.slice(0, 5).includes(testLabels[i])) h5++;
  }
  return { preds, top1: h1 / nTe, top5: h5 / nTe };
}

describe('k-NN', () => {
  beforeAll(async () => { await tf.setBackend('cpu'); });

  it('l2normalize gives unit rows and keeps zero rows zero', async () => {
    const f = l2normalize(new Float32Array([3, 4, 0, 0, 1, 0]), 2);
    expect(Array.from(f)).toEqual([0.6000000238418579, 0.800000011920929, 0, 0, 1, 0]);
  });

  it('matches a brute-force reference on random data (exp and majority)', async () => {
    const rng = new Rng(1);
    const dim = 16;
    const c = 7;
    const train = randomFeatures(rng, 300, dim);
    const trainLabels = randomLabels(rng, 300, c);
    const test = randomFeatures(rng, 60, dim);
    const testLabels = randomLabels(rng, 60, c);
    for (const weighting of ['exp', 'majority'] as const) {
      for (const k of [1, 10, 50]) {
        const ref = bruteForce(train, trainLabels, test, testLabels, dim, k, 0.1, c, weighting);
        const got = await knnClassify(
          { features: train, labels: trainLabels, dim }, { features: test, labels: testLabels, dim },
          { k, temperature: 0.1, numClasses: c, weighting, chunkSize: 37, queryChunkSize: 16 },
        );
        expect(Array.from(got.predictions)).toEqual(Array.from(ref.preds));
        expect(got.top1).toBeCloseTo(ref.top1, 12);
        expect(got.top5).toBeCloseTo(ref.top5, 12);
      }
    }
  });

  it('streaming over chunks gives the same neighbours and predictions as one tile', async () => {
    const rng = new Rng(2);
    const dim = 8;
    const bank = randomFeatures(rng, 500, dim);
    const query = randomFeatures(rng, 40, dim);
    const whole = await nearestNeighbours(bank, query, dim, 20, 1_000_000, 1_000_000);
    for (const [cs, qs] of [[1, 1], [7, 3], [64, 40], [499, 39]]) {
      const part = await nearestNeighbours(bank, query, dim, 20, cs, qs);
      expect(Array.from(part.indices)).toEqual(Array.from(whole.indices));
      expect(Array.from(part.sims)).toEqual(Array.from(whole.sims));
    }
    // Ties (duplicated bank rows) keep the lower index first whatever the chunking.
    const dup = new Float32Array([1, 0, 1, 0, 0, 1, 1, 0]);
    const q = new Float32Array([1, 0]);
    expect(Array.from((await nearestNeighbours(dup, q, 2, 3, 1, 1)).indices)).toEqual([0, 1, 3]);
    expect(Array.from((await nearestNeighbours(dup, q, 2, 3, 4, 1)).indices)).toEqual([0, 1, 3]);
  });

  it('hand-computed weighted vote beats majority when near neighbours are few', async () => {
    // Query [1,0]; one very close neighbour of class 0, two far ones of class 1.
    const train = l2normalize(new Float32Array([1, 0, 0, 1, 0.1, 1]), 2);
    const labels = new Int32Array([0, 1, 1]);
    const test = { features: new Float32Array([1, 0]), labels: new Int32Array([0]), dim: 2 };
    const bank = { features: train, labels, dim: 2 };
    // exp: class0 = e^(1/0.1) = 22026; class1 = e^0 + e^(0.0995/0.1) ~ 3.7 -> class 0.
    expect((await knnClassify(bank, test, { k: 3, temperature: 0.1, numClasses: 2, weighting: 'exp' })).predictions[0]).toBe(0);
    expect((await knnClassify(bank, test, { k: 3, temperature: 0.1, numClasses: 2, weighting: 'majority' })).predictions[0]).toBe(1);
    // k larger than the bank is clamped.
    const r = await knnClassify(bank, test, { k: 200, temperature: 0.1, numClasses: 2, weighting: 'exp' });
    expect(r.top1).toBe(1);
  });

  it('leaves no tensors behind', async () => {
    const rng = new Rng(3);
    const bank = randomFeatures(rng, 50, 4);
    const before = tf.memory().numTensors;
    await nearestNeighbours(bank, bank.slice(0, 40), 4, 5, 16, 8);
    expect(tf.memory().numTensors).toBe(before);
  });
});
