import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ContrastiveLoss } from '../src/losses/contrastive.ts';
import {
  buildLoss, buildMiner, compatibleMiners, LOSS_NAMES, MINER_NAMES, tuplesFor, type LossName, type LossOptions, type MinerOptions,
} from '../src/losses/factory.ts';
import { AllPairsMiner, AllTripletsMiner, BatchHardMiner, MultiSimilarityMiner, SemiHardMiner } from '../src/losses/miners.ts';
import { MultiSimilarityLoss } from '../src/losses/multisimilarity.ts';
import { SupConLoss } from '../src/losses/supcon.ts';
import { TripletMarginLoss } from '../src/losses/triplet.ts';
import { isUserError } from '../src/util/errors.ts';
import { Rng } from '../src/util/rng.ts';
import { randomBatch } from './losses-helpers.ts';

beforeAll(async () => { await tf.setBackend('cpu'); });

const lossOpts: LossOptions = { distance: 'cosine', margin: 0.1, squared: false, temperature: 0.1, alpha: 2, beta: 50, base: 0.5 };
const minerOpts: MinerOptions = { distance: 'cosine', margin: 0.1, epsilon: 0.1, max_triplets: 0, tuples: 'pairs' };

function userError(f: () => unknown, pattern: RegExp): void {
  let err: unknown;
  try { f(); } catch (e) { err = e; }
  expect(isUserError(err)).toBe(true);
  expect((err as Error).message).toMatch(pattern);
  expect((err as Error).message).not.toContain('\n');
}

describe('buildLoss', () => {
  it('builds each loss with the recipe values', () => {
    const c = buildLoss('contrastive', { ...lossOpts, distance: 'l2' }) as ContrastiveLoss;
    expect(c).toBeInstanceOf(ContrastiveLoss);
    expect([c.distance, c.posMargin, c.negMargin]).toEqual(['l2', 0, 1]);
    const c2 = buildLoss('contrastive', { ...lossOpts, pos_margin: 0.8 }) as ContrastiveLoss;
    expect([c2.distance, c2.posMargin, c2.negMargin]).toEqual(['cosine', 0.8, 0]);
    const t = buildLoss('triplet', { ...lossOpts, distance: 'l2', squared: true, margin: 0.2 }) as TripletMarginLoss;
    expect(t).toBeInstanceOf(TripletMarginLoss);
    expect([t.distance, t.margin, t.squared]).toEqual(['l2', 0.2, true]);
    const s = buildLoss('supcon', { ...lossOpts, temperature: 0.07 }) as SupConLoss;
    expect(s).toBeInstanceOf(SupConLoss);
    expect(s.temperature).toBe(0.07);
    const m = buildLoss('multisimilarity', { ...lossOpts, alpha: 3, beta: 40, base: 0.4 }) as MultiSimilarityLoss;
    expect(m).toBeInstanceOf(MultiSimilarityLoss);
    expect([m.distance, m.alpha, m.beta, m.base]).toEqual(['cosine', 3, 40, 0.4]);
  });

  it('rejects bad values with one line naming the key and what is valid', () => {
    userError(() => buildLoss('supcon', { ...lossOpts, distance: 'l2' }), /method\.distance.*valid: cosine/);
    userError(() => buildLoss('triplet', { ...lossOpts, squared: true }), /method\.squared/);
    userError(() => buildLoss('supcon', { ...lossOpts, temperature: 0 }), /method\.temperature.*> 0/);
    userError(() => buildLoss('multisimilarity', { ...lossOpts, beta: -1 }), /method\.ms_beta/);
    userError(() => buildLoss('triplet', { ...lossOpts, margin: Number.NaN }), /method\.margin/);
    userError(() => buildLoss('contrastive', { ...lossOpts, distance: 'dot' as never }), /method\.distance.*cosine, l2/);
    userError(() => buildLoss('arcface' as LossName, lossOpts), /method\.name.*contrastive, triplet, supcon, multisimilarity/);
  });
});

describe('buildMiner', () => {
  const rng = () => new Rng('factory');

  it('builds each miner; none is undefined; all follows the tuple kind', () => {
    expect(buildMiner('none', minerOpts, rng())).toBeUndefined();
    expect(buildMiner('all', minerOpts, rng())).toBeInstanceOf(AllPairsMiner);
    const all = buildMiner('all', { ...minerOpts, tuples: 'triplets', max_triplets: 7 }, rng()) as AllTripletsMiner;
    expect(all).toBeInstanceOf(AllTripletsMiner);
    expect(all.maxTriplets).toBe(7);
    expect(buildMiner('batch_hard', { ...minerOpts, tuples: 'triplets' }, rng())).toBeInstanceOf(BatchHardMiner);
    const semi = buildMiner('semi_hard', { ...minerOpts, tuples: 'triplets', margin: 0.3, distance: 'l2', squared: true }, rng()) as SemiHardMiner;
    expect(semi).toBeInstanceOf(SemiHardMiner);
    expect(semi.o).toEqual({ distance: 'l2', squared: true, margin: 0.3 });
    const ms = buildMiner('multisimilarity', { ...minerOpts, epsilon: 0.2 }, rng()) as MultiSimilarityMiner;
    expect(ms.o).toEqual({ distance: 'cosine', squared: false, epsilon: 0.2 });
  });

  it('rejects a miner whose tuples the loss cannot take, and bad values', () => {
    userError(() => buildMiner('batch_hard', minerOpts, rng()), /method\.miner: batch_hard gives triplets.*valid: none, all, multisimilarity/);
    userError(() => buildMiner('multisimilarity', { ...minerOpts, tuples: 'triplets' }, rng()), /valid: none, all, batch_hard, semi_hard/);
    userError(() => buildMiner('all', { ...minerOpts, tuples: 'triplets', max_triplets: 2.5 }, rng()), /method\.max_triplets/);
    userError(() => buildMiner('multisimilarity', { ...minerOpts, epsilon: -0.1 }, rng()), /method\.miner_epsilon/);
    userError(() => buildMiner('hardest' as never, minerOpts, rng()), /method\.miner.*valid: none, all, batch_hard, semi_hard, multisimilarity/);
  });
});

describe('compatibleMiners', () => {
  it('says which miners feed which loss', () => {
    expect(compatibleMiners('triplet')).toEqual(['none', 'all', 'batch_hard', 'semi_hard']);
    for (const l of ['contrastive', 'supcon', 'multisimilarity'] as const) expect(compatibleMiners(l)).toEqual(['none', 'all', 'multisimilarity']);
    expect(tuplesFor('triplet')).toBe('triplets');
    expect(tuplesFor('supcon')).toBe('pairs');
  });

  it('every compatible pairing builds and trains a step (finite loss and gradient); the others are refused', () => {
    const { x, labels } = randomBatch('factory', 12, 5, 3);
    const e = tf.tensor2d(x);
    for (const name of LOSS_NAMES) {
      const loss = buildLoss(name, lossOpts);
      for (const minerName of MINER_NAMES) {
        const o = { ...minerOpts, tuples: tuplesFor(name), max_triplets: 20, margin: 0.5 };
        if (!compatibleMiners(name).includes(minerName)) {
          expect(() => buildMiner(minerName, o, new Rng('f'))).toThrow();
          continue;
        }
        const miner = buildMiner(minerName, o, new Rng('f'));
        const { value, grad } = tf.valueAndGrad((t: tf.Tensor) => loss.compute(t as tf.Tensor2D, labels, miner?.mine(t as tf.Tensor2D, labels).tuples))(e);
        expect(Number.isFinite(value.dataSync()[0])).toBe(true);
        expect(loss.lastStats().empty).toBe(0);
        expect(grad.dataSync().every(Number.isFinite)).toBe(true);
        tf.dispose([value, grad]);
      }
    }
    e.dispose();
  });
});
