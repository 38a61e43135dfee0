// k-NN accuracy of a frozen backbone on the labelled eval splits: the quality
// signal printed before and after pretraining and, with eval.every, during it.
// It is `selfsup eval knn`'s evaluation (src/eval/evaluate.ts), on a bank capped
// at eval.monitor_limit items so that checks during training stay cheap.
import type { Splits } from '../data/types.ts';
import { numClasses } from '../data/types.ts';
import { SubsetDataset } from '../data/views.ts';
import { evaluateKnn } from '../eval/evaluate.ts';
import type { EvalTransform, FeatureSet } from '../eval/features.ts';
import type { Backbone, Module } from '../models/module.ts';
import { composeEmbedder } from '../eval/embedder.ts';
import { retrievalScore, retrievalScoreOfFeatures, type RetrievalScore } from '../eval/retrieval.ts';
import type { EvalConfig } from '../recipe/sections/eval.ts';

export interface KnnScore { top1: number; top5: number; k: number; temperature: number; nTrain: number; nTest: number }

export async function knnScore(backbone: Backbone, splits: Splits, cfg: EvalConfig, transform: EvalTransform): Promise<KnnScore | undefined> {
  return (await knnEvaluation(backbone, splits, cfg, transform))?.score;
}

/** The k-NN score and the (L2-normalized) backbone features of the test split it computed. */
async function knnEvaluation(
  backbone: Backbone, splits: Splits, cfg: EvalConfig, transform: EvalTransform,
): Promise<{ score: KnnScore; testFeatures: FeatureSet; testLabels: Int32Array } | undefined> {
  if (!splits.evalTrain?.labels || !splits.evalTest?.labels) return undefined;
  let bank = splits.evalTrain;
  if (cfg.monitor_limit > 0 && bank.n > cfg.monitor_limit) {
    bank = new SubsetDataset(`${bank.name}[:${cfg.monitor_limit}]`, bank, Int32Array.from({ length: cfg.monitor_limit }, (_, i) => i));
  }
  const classes = Math.max(numClasses(splits.evalTrain), numClasses(splits.evalTest));
  const { report, testFeatures, labels } = await evaluateKnn({ backbone, train: bank, test: splits.evalTest, transform, config: cfg, numClasses: classes, seed: 0 });
  const score = { top1: report.top1, top5: report.top5, k: report.k, temperature: report.temperature, nTrain: report.n_train, nTest: report.n_test };
  return { score, testFeatures, testLabels: labels };
}

/**
 * The scores printed before and after pretraining: k-NN and retrieval. The test
 * split is embedded once: retrieval on the backbone reuses the k-NN evaluation's
 * test features (same frozen backbone, same eval transform, same normalization).
 */
export async function evalScores(
  method: { backbone: Backbone; head?: Module }, splits: Splits, cfg: EvalConfig, transform: EvalTransform,
): Promise<{ knn?: KnnScore; retrieval?: RetrievalScore }> {
  const knn = await knnEvaluation(method.backbone, splits, cfg, transform);
  const onBackbone = !(cfg.embedding === 'head' && method.head);
  const retrieval = knn && onBackbone
    ? await retrievalScoreOfFeatures(knn.testFeatures.features, knn.testLabels, knn.testFeatures.dim, cfg)
    : await retrievalScoreOf(method, splits, cfg, transform);
  return { knn: knn?.score, retrieval };
}

/**
 * Retrieval on the labelled test split (leave-one-out: P@1, R-Precision, MAP@R,
 * Recall@K), for every method: with data.class_split these are the classes the
 * run never trained on. Undefined when the split has no labels or < 2 classes.
 */
export async function retrievalScoreOf(
  method: { backbone: Backbone; head?: Module }, splits: Splits, cfg: EvalConfig, transform: EvalTransform,
): Promise<RetrievalScore | undefined> {
  if (!splits.evalTest?.labels) return undefined;
  const embedder = cfg.embedding === 'head' && method.head ? composeEmbedder(method.backbone, method.head) : method.backbone;
  return retrievalScore(embedder, splits.evalTest, cfg, transform);
}
