// The four metric-learning methods as the recipe names them: which loss, which
// miner by default, and which miners make sense (a triplet miner feeds only the
// triplet loss; pair miners feed the pair losses; SupCon weighs every pair itself).
import type { Backbone } from '../models/module.ts';
import type { Recipe } from '../recipe/index.ts';
import { DEFAULT_MINER, type SUPERVISED } from '../recipe/sections/method.ts';
import { buildLoss, buildMiner, compatibleMiners } from '../losses/factory.ts';
import { UserError } from '../util/errors.ts';
import { Rng } from '../util/rng.ts';
import { MetricLearning } from './metric.ts';

export type SupervisedName = (typeof SUPERVISED)[number];

export function buildSupervised(r: Recipe, name: SupervisedName, backbone: Backbone, rng: Rng): MetricLearning {
  const m = r.method;
  const minerName = m.miner === 'auto' ? DEFAULT_MINER[name] : m.miner;
  const valid = compatibleMiners(name);
  if (!valid.includes(minerName)) {
    throw new UserError(`method.miner: '${minerName}' does not feed the ${name} loss; valid: auto, ${valid.join(', ')}`);
  }
  const loss = buildLoss(name, {
    distance: m.distance, margin: m.margin, squared: m.squared, pos_margin: m.pos_margin, neg_margin: m.neg_margin,
    temperature: m.temperature, alpha: m.ms_alpha, beta: m.ms_beta, base: m.ms_base,
  });
  const minerOptions = {
    distance: m.distance, margin: m.margin, epsilon: m.miner_epsilon, max_triplets: m.max_triplets, squared: m.squared,
    tuples: name === 'triplet' ? 'triplets' as const : 'pairs' as const,
  };
  // Mining draws (the 'all' miner's cap) come from a stream of their own per (seed, step).
  const miner = minerName === 'none' ? undefined
    : (step: number) => buildMiner(minerName, minerOptions, new Rng(`miner:${r.train.seed}:${step}`))!;
  const head = r.model.head_out > 0 ? { hidden: r.model.head_hidden, out: r.model.head_out, batchNorm: r.model.head_batch_norm, layers: r.model.head_layers } : undefined;
  return new MetricLearning(backbone, { name, loss, miner, views: m.views, head }, rng);
}
