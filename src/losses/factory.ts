// Builds the metric losses and miners from recipe values (the `method` section),
// checks the values, and says which miner can feed which loss. Messages name the
// recipe keys (method.*), since a bad value here is the user's.
import { UserError } from '../util/errors.ts';
import type { Rng } from '../util/rng.ts';
import { CONTRASTIVE_DEFAULT_MARGINS, ContrastiveLoss } from './contrastive.ts';
import { AllPairsMiner, AllTripletsMiner, BatchHardMiner, MultiSimilarityMiner, SemiHardMiner } from './miners.ts';
import { MultiSimilarityLoss } from './multisimilarity.ts';
import { SupConLoss } from './supcon.ts';
import { TripletMarginLoss } from './triplet.ts';
import type { DistanceName, MetricLoss, Miner } from './types.ts';

export const LOSS_NAMES = ['contrastive', 'triplet', 'supcon', 'multisimilarity'] as const;
export type LossName = (typeof LOSS_NAMES)[number];
export const MINER_NAMES = ['none', 'all', 'batch_hard', 'semi_hard', 'multisimilarity'] as const;
export type MinerChoice = (typeof MINER_NAMES)[number];
export type TupleKind = 'pairs' | 'triplets';

export interface LossOptions {
  distance: DistanceName;
  /** triplet margin. */
  margin: number;
  /** triplet with l2: squared distances. */
  squared: boolean;
  /** contrastive; undefined = PML's default for the distance (CONTRASTIVE_DEFAULT_MARGINS). */
  pos_margin?: number;
  neg_margin?: number;
  /** supcon. */
  temperature: number;
  /** multisimilarity. */
  alpha: number;
  beta: number;
  base: number;
}

export interface MinerOptions {
  distance: DistanceName;
  /** semi_hard: the window beyond the positive (the triplet loss's margin). */
  margin: number;
  /** multisimilarity miner. */
  epsilon: number;
  /** 'all' with triplets: cap per batch; 0 = every triplet. */
  max_triplets: number;
  /** What the loss takes: the 'all' miner gives every pair or every triplet accordingly. */
  tuples: TupleKind;
  /** l2 only: mine on squared distances (pass the triplet loss's `squared` so margins agree). Default false. */
  squared?: boolean;
}

/** The tuple kind each loss takes. */
export function tuplesFor(loss: LossName): TupleKind {
  return loss === 'triplet' ? 'triplets' : 'pairs';
}

/**
 * Miners whose tuples a loss can use: triplet miners feed the triplet loss, pair
 * miners the pair losses ('none' = the loss's own all-tuples pass). SupCon takes
 * mined pairs as PML does (they restrict its positives and denominator), though
 * it needs no mining.
 */
export function compatibleMiners(loss: LossName): readonly MinerChoice[] {
  return loss === 'triplet' ? ['none', 'all', 'batch_hard', 'semi_hard'] : ['none', 'all', 'multisimilarity'];
}

function checkDistance(d: DistanceName): void {
  if (d !== 'cosine' && d !== 'l2') throw new UserError(`method.distance: '${String(d)}' is not a distance; valid: cosine, l2`);
}

function checkNumber(key: string, v: number, ok: (v: number) => boolean, valid: string): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw new UserError(`method.${key}: ${String(v)} is not valid; valid: ${valid}`);
}

export function buildLoss(name: LossName, o: LossOptions): MetricLoss {
  checkDistance(o.distance);
  switch (name) {
    case 'contrastive': {
      const defaults = CONTRASTIVE_DEFAULT_MARGINS[o.distance];
      const posMargin = o.pos_margin ?? defaults.pos;
      const negMargin = o.neg_margin ?? defaults.neg;
      checkNumber('pos_margin', posMargin, () => true, 'a finite number');
      checkNumber('neg_margin', negMargin, () => true, 'a finite number');
      return new ContrastiveLoss({ distance: o.distance, posMargin, negMargin });
    }
    case 'triplet':
      checkNumber('margin', o.margin, (v) => v >= 0, 'a number >= 0');
      if (o.squared && o.distance !== 'l2') throw new UserError('method.squared: squared distances apply to distance l2 only; set method.distance=l2 or method.squared=false');
      return new TripletMarginLoss({ distance: o.distance, margin: o.margin, squared: o.squared });
    case 'supcon':
      checkNumber('temperature', o.temperature, (v) => v > 0, 'a number > 0');
      if (o.distance !== 'cosine') throw new UserError(`method.distance: supcon is a softmax over cosine similarities; valid: cosine (got ${o.distance})`);
      return new SupConLoss({ temperature: o.temperature });
    case 'multisimilarity':
      checkNumber('ms_alpha', o.alpha, (v) => v > 0, 'a number > 0');
      checkNumber('ms_beta', o.beta, (v) => v > 0, 'a number > 0');
      checkNumber('ms_base', o.base, () => true, 'a finite number');
      return new MultiSimilarityLoss({ distance: o.distance, alpha: o.alpha, beta: o.beta, base: o.base });
    default:
      throw new UserError(`method.name: no metric loss '${String(name)}'; valid: ${LOSS_NAMES.join(', ')}`);
  }
}

/** The miner, or undefined for 'none' (the loss then uses every valid tuple). */
export function buildMiner(name: MinerChoice, o: MinerOptions, rng: Rng): Miner | undefined {
  if (!(MINER_NAMES as readonly string[]).includes(name)) throw new UserError(`method.miner: no miner '${String(name)}'; valid: ${MINER_NAMES.join(', ')}`);
  if (name === 'none') return undefined;
  checkDistance(o.distance);
  if (o.squared && o.distance !== 'l2') throw new UserError('method.squared: squared distances apply to distance l2 only; set method.distance=l2 or method.squared=false');
  const gives: TupleKind = name === 'all' ? o.tuples : name === 'multisimilarity' ? 'pairs' : 'triplets';
  if (gives !== o.tuples) {
    throw new UserError(`method.miner: ${name} gives ${gives}, and this loss takes ${o.tuples}; valid: none, all, ${o.tuples === 'triplets' ? 'batch_hard, semi_hard' : 'multisimilarity'}`);
  }
  const squared = o.squared ?? false;
  switch (name) {
    case 'all':
      if (o.tuples === 'pairs') return new AllPairsMiner();
      checkNumber('max_triplets', o.max_triplets, (v) => Number.isInteger(v) && v >= 0, 'an integer >= 0 (0 = every triplet)');
      return new AllTripletsMiner({ maxTriplets: o.max_triplets, rng });
    case 'batch_hard':
      return new BatchHardMiner({ distance: o.distance, squared });
    case 'semi_hard':
      checkNumber('margin', o.margin, (v) => v >= 0, 'a number >= 0');
      return new SemiHardMiner({ distance: o.distance, squared, margin: o.margin });
    case 'multisimilarity':
      checkNumber('miner_epsilon', o.epsilon, (v) => v >= 0, 'a number >= 0');
      return new MultiSimilarityMiner({ distance: o.distance, squared, epsilon: o.epsilon });
  }
}
