// k-NN accuracy of a frozen backbone on the labelled eval splits: the quality
// signal printed before and after pretraining and, with eval.every, during it.
import type { Splits } from '../data/types.ts';
import { numClasses } from '../data/types.ts';
import { extractFeatures, type EvalTransform } from '../eval/features.ts';
import { knnClassify } from '../eval/knn.ts';
import type { Backbone } from '../models/module.ts';
import type { EvalConfig } from '../recipe/sections/eval.ts';
import { SubsetDataset } from '../data/views.ts';

export interface KnnScore { top1: number; top5: number; k: number; temperature: number; nTrain: number; nTest: number }

export async function knnScore(backbone: Backbone, splits: Splits, cfg: EvalConfig, transform: EvalTransform): Promise<KnnScore | undefined> {
  if (!splits.evalTrain?.labels || !splits.evalTest?.labels) return undefined;
  let bank = splits.evalTrain;
  if (cfg.monitor_limit > 0 && bank.n > cfg.monitor_limit) {
    bank = new SubsetDataset(`${bank.name}[:${cfg.monitor_limit}]`, bank, Int32Array.from({ length: cfg.monitor_limit }, (_, i) => i));
  }
  const opts = { batchSize: cfg.batch_size, normalize: true };
  const train = await extractFeatures(backbone, bank, transform, opts);
  const test = await extractFeatures(backbone, splits.evalTest, transform, opts);
  const classes = Math.max(numClasses(splits.evalTrain), numClasses(splits.evalTest));
  const k = Math.min(cfg.knn_k, train.n);
  const r = knnClassify(
    { features: train.features, labels: train.labels!, dim: train.dim },
    { features: test.features, labels: test.labels!, dim: test.dim },
    { k, temperature: cfg.knn_t, numClasses: classes, weighting: cfg.knn_weighting, chunkSize: cfg.knn_chunk },
  );
  return { top1: r.top1, top5: r.top5, k, temperature: cfg.knn_t, nTrain: train.n, nTest: test.n };
}
