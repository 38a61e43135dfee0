// The self-supervised methods without negatives, as the recipe names them:
// BYOL and SimSiam (a predictor against a fixed target), Barlow Twins and VICReg
// (a loss on the embedding's batch statistics).
import type * as tf from '@tensorflow/tfjs';
import { barlowTwinsTerms, weightBarlowTwins } from '../losses/barlowtwins.ts';
import { vicregTerms, weightVicreg } from '../losses/vicreg.ts';
import { projectionHeadDims } from '../models/heads.ts';
import type { Backbone } from '../models/module.ts';
import type { Recipe } from '../recipe/index.ts';
import type { Rng } from '../util/rng.ts';
import { BYOL } from './byol.ts';
import { JointEmbedding } from './joint-embedding.ts';
import type { Method } from './method.ts';
import { SimSiam } from './simsiam.ts';

export type NonContrastiveName = 'byol' | 'simsiam' | 'barlowtwins' | 'vicreg';

export function buildNonContrastive(r: Recipe, name: NonContrastiveName, backbone: Backbone, rng: Rng): Method {
  const m = r.method;
  const headDims = projectionHeadDims(backbone.featureDim, r.model.head_hidden, r.model.head_out, r.model.head_layers).slice(1);
  const headBatchNorm = r.model.head_batch_norm;
  switch (name) {
    case 'byol':
      return new BYOL(backbone, { momentum: m.momentum, momentumSchedule: m.momentum_schedule, headDims, headBatchNorm, predictorHidden: m.predictor_hidden }, rng);
    case 'simsiam':
      return new SimSiam(backbone, { headDims, headBatchNorm, outputBatchNorm: m.output_batch_norm, predictorHidden: m.predictor_hidden }, rng);
    case 'barlowtwins':
    case 'vicreg': {
      // The unweighted terms are logged too (train/invariance, ...): which one stalls says
      // whether the views disagree or the embedding is collapsing / redundant.
      const loss = name === 'barlowtwins'
        ? (z1: tf.Tensor2D, z2: tf.Tensor2D) => {
          const t = barlowTwinsTerms(z1, z2);
          return { loss: weightBarlowTwins(t, m.barlow_lambda), parts: { ...t } };
        }
        : (z1: tf.Tensor2D, z2: tf.Tensor2D) => {
          const t = vicregTerms(z1, z2);
          return { loss: weightVicreg(t, { sim: m.vicreg_sim, std: m.vicreg_std, cov: m.vicreg_cov }), parts: { ...t } };
        };
      return new JointEmbedding(name, backbone, { headDims, headBatchNorm, loss }, rng);
    }
  }
}
