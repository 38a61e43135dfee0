// The three evaluations of a frozen backbone (k-NN, linear probe, few-shot),
// each one: hash the weights, extract features once, score, check the hash
// again. Everything the report and plots need comes back with the numbers.
import type { Dataset } from '../data/types.ts';
import type { Module } from '../models/module.ts';
import type { EvalConfig } from '../recipe/sections/eval.ts';
import { Rng } from '../util/rng.ts';
import { UserError } from '../util/errors.ts';
import { extractFeatures, type EvalTransform, type FeatureSet } from './features.ts';
import { indexByClass, sampleEpisodes, scoreEpisodes, type FewShotResult } from './fewshot.ts';
import { assertWeightsUnchanged, weightsHash } from './guard.ts';
import { classifyNeighbours, l2normalize, searchBank } from './knn.ts';
import { linearProbe, type DecayTrial } from './linear.ts';

export interface EvalSetup {
  backbone: Module;
  /** Labelled train split: the k-NN bank, the probe's training data. */
  train: Dataset;
  /** Labelled test split: scored once. */
  test: Dataset;
  transform: EvalTransform;
  config: EvalConfig;
  numClasses: number;
  /** Seeds the probe's shuffling, the validation split, few-shot episodes and the map. */
  seed: number | string;
  log?: (msg: string) => void;
}

/** Common to every report: what was evaluated and the frozen-backbone proof. */
export interface EvalBase {
  n_train: number;
  n_test: number;
  feature_dim: number;
  num_classes: number;
  /** SHA-256 of the backbone's weights, identical before and after (checked). */
  backbone_sha256: string;
  seconds: number;
}

export interface KnnReport extends EvalBase {
  kind: 'knn';
  k: number;
  temperature: number;
  weighting: 'exp' | 'majority';
  top1: number;
  top5: number;
  /** Plain majority voting with the same neighbours, for comparison. */
  majority: { top1: number; top5: number };
}

export interface LinearReport extends EvalBase {
  kind: 'linear';
  /** Test accuracy after the final epoch: the result. */
  top1: number;
  top5: number;
  epochs: number;
  weight_decay: number;
  /** Validation scores per decay; best-epoch numbers are informational only. */
  search: DecayTrial[];
  val_fraction: number;
  loss_curve: number[];
}

export interface FewShotReport extends EvalBase, FewShotResult { kind: 'fewshot' }

export interface Evaluated<R> {
  report: R;
  /** Labels of `testFeatures`' rows (few-shot: only the episode classes' test items). */
  labels: Int32Array;
  /** Test predictions, aligned with `labels` (for the confusion matrix); absent for few-shot. */
  predictions?: Int32Array;
  /** L2-normalized test features (for the 2-D map). */
  testFeatures: FeatureSet;
}

function requireLabels(ds: Dataset, role: string): Int32Array {
  if (!ds.labels) throw new UserError(`${ds.name}: the ${role} split has no labels; evaluation needs a labelled split (data section)`);
  return ds.labels;
}

async function features(s: EvalSetup, ds: Dataset, what: string): Promise<FeatureSet> {
  let last = 0;
  return extractFeatures(s.backbone, ds, s.transform, {
    batchSize: s.config.batch_size,
    normalize: false,
    onProgress: (done) => {
      if (s.log && (done - last >= 5000 || done === ds.n)) { last = done; s.log(`features ${what}: ${done}/${ds.n}`); }
    },
  });
}

/** Runs `body` on a frozen backbone and proves it stayed frozen. */
async function frozen<R>(s: EvalSetup, what: string, body: () => Promise<R>): Promise<{ value: R; hash: string; seconds: number }> {
  const t0 = performance.now();
  const hash = await weightsHash(s.backbone);
  const value = await body();
  await assertWeightsUnchanged(s.backbone, hash, what);
  return { value, hash, seconds: (performance.now() - t0) / 1000 };
}

function base(train: FeatureSet, test: FeatureSet, s: EvalSetup, hash: string, seconds: number): EvalBase {
  return { n_train: train.n, n_test: test.n, feature_dim: test.dim, num_classes: s.numClasses, backbone_sha256: hash, seconds };
}

export async function evaluateKnn(s: EvalSetup): Promise<Evaluated<KnnReport>> {
  const trainLabels = requireLabels(s.train, 'train');
  const testLabels = requireLabels(s.test, 'test');
  const { value, hash, seconds } = await frozen(s, 'k-NN evaluation', async () => {
    const tr = await features(s, s.train, 'train');
    const te = await features(s, s.test, 'test');
    const bank = { features: l2normalize(tr.features, tr.dim), labels: trainLabels, dim: tr.dim };
    const query = { features: l2normalize(te.features, te.dim), labels: testLabels, dim: te.dim };
    const k = Math.min(s.config.knn_k, tr.n);
    const nb = await searchBank(bank, query, { k, chunkSize: s.config.knn_chunk });
    const common = { temperature: s.config.knn_t, numClasses: s.numClasses };
    const main = classifyNeighbours(nb, trainLabels, testLabels, { ...common, weighting: s.config.knn_weighting });
    const majority = classifyNeighbours(nb, trainLabels, testLabels, { ...common, weighting: 'majority' });
    return { tr, te: { ...te, features: query.features }, k, main, majority };
  });
  const { tr, te, k, main, majority } = value;
  s.log?.(`k-NN (k=${k}, T=${s.config.knn_t}, ${s.config.knn_weighting}): top-1 ${pct(main.top1)} top-5 ${pct(main.top5)}; majority vote top-1 ${pct(majority.top1)}`);
  return {
    report: {
      kind: 'knn', ...base(tr, te, s, hash, seconds), k, temperature: s.config.knn_t, weighting: s.config.knn_weighting,
      top1: main.top1, top5: main.top5, majority: { top1: majority.top1, top5: majority.top5 },
    },
    labels: testLabels, predictions: main.predictions, testFeatures: te,
  };
}

export async function evaluateLinear(s: EvalSetup): Promise<Evaluated<LinearReport>> {
  const trainLabels = requireLabels(s.train, 'train');
  const testLabels = requireLabels(s.test, 'test');
  const { value, hash, seconds } = await frozen(s, 'linear probe', async () => {
    // Features are computed once; every probe fit below reuses them.
    const tr = await features(s, s.train, 'train');
    const te = await features(s, s.test, 'test');
    const result = await linearProbe(
      { features: tr.features, labels: trainLabels, dim: tr.dim, role: 'train' },
      { features: te.features, labels: testLabels, dim: te.dim, role: 'test' },
      { ...s.config.linear, numClasses: s.numClasses, rng: new Rng(`linear:${s.seed}`), log: s.log },
    );
    return { tr, te: { ...te, features: l2normalize(te.features, te.dim) }, result };
  });
  const { tr, te, result } = value;
  return {
    report: {
      kind: 'linear', ...base(tr, te, s, hash, seconds), top1: result.top1, top5: result.top5, epochs: result.epochs,
      weight_decay: result.weight_decay, search: result.search, val_fraction: s.config.linear.val_fraction,
      loss_curve: result.loss_curve,
    },
    labels: testLabels, predictions: result.predictions, testFeatures: te,
  };
}

/** Few-shot episodes on the test split's classes listed in eval.fewshot.classes (all when empty). */
export async function evaluateFewShot(s: EvalSetup): Promise<Evaluated<FewShotReport>> {
  const testLabels = requireLabels(s.test, 'test');
  const f = s.config.fewshot;
  // Episodes first: an impossible spec is reported before any feature is computed.
  const episodes = sampleEpisodes(testLabels, f.classes, f, new Rng(`fewshot:${s.seed}`));
  const classes = [...indexByClass(testLabels, f.classes).keys()];
  const { value, hash, seconds } = await frozen(s, 'few-shot evaluation', async () => {
    const te = await features(s, s.test, 'test');
    const normalized = l2normalize(te.features, te.dim);
    const r = scoreEpisodes(normalized, te.dim, episodes, f, classes);
    return { te: { ...te, features: normalized }, r };
  });
  const { te, r } = value;
  s.log?.(`few-shot ${r.ways}-way ${r.shots}-shot over ${r.episodes} episodes: ${pct(r.accuracy)} +- ${pct(r.ci95)} (95%)`);
  // The map shows only the episode classes: the ones this evaluation is about.
  const keep = Int32Array.from(testLabels.keys()).filter((i) => classes.includes(testLabels[i]));
  const mapFeatures = new Float32Array(keep.length * te.dim);
  keep.forEach((i, r) => mapFeatures.set(te.features.subarray(i * te.dim, (i + 1) * te.dim), r * te.dim));
  return {
    report: { kind: 'fewshot', ...base({ ...te, n: 0 }, te, s, hash, seconds), ...r },
    labels: Int32Array.from(keep, (i) => testLabels[i]),
    testFeatures: { features: mapFeatures, dim: te.dim, n: keep.length },
  };
}

function pct(x: number): string { return `${(100 * x).toFixed(2)}%`; }
