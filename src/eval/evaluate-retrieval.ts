// The two evaluations of a frozen embedding on the labelled test split (with
// data.class_split: classes never trained on): leave-one-out retrieval
// (`selfsup eval retrieval`) and pair verification with a calibrated threshold
// (`selfsup eval verify`). Same shape as evaluate.ts: hash the weights (backbone
// and head), extract features once, score, check the hash again.
import type { Dataset } from '../data/types.ts';
import { DEFAULT_RETRIEVAL, DEFAULT_VERIFY, type EvalConfig } from '../recipe/sections/eval.ts';
import { UserError } from '../util/errors.ts';
import { Rng } from '../util/rng.ts';
import type { Cell } from '../../augment/grid.ts';
import type { Embedder, EmbeddingSource } from './embedder.ts';
import type { EvalBase, Evaluated } from './evaluate.ts';
import { extractFeatures, type EvalTransform, type FeatureSet } from './features.ts';
import { assertWeightsUnchanged, weightsHash } from './guard.ts';
import { nearestNeighbours } from './knn.ts';
import { lineChartSpec } from '../report/charts.ts';
import type { TopLevelSpec } from 'vega-lite';
import { renderChart } from './plots.ts';
import { distinctLabels, retrievalMetrics, type RetrievalMetrics } from './retrieval.ts';
import { drawRetrievalSheet, pickSheetQueries, type SheetRow } from './retrieval-sheet.ts';
import { pairCounts, pairSimilarities, rocCurve, summarizeVerification, verificationPairs, type RocCurve } from './verify.ts';

export interface EmbeddingEvalSetup {
  embedder: Embedder;
  /** Labelled test split: every item is a query (retrieval) or a pair member (verification). */
  test: Dataset;
  transform: EvalTransform;
  config: EvalConfig;
  /** Seeds the sheet's queries and the sampled pairs. */
  seed: number | string;
  /** Draw retrieval.png / verify-roc.png. */
  plots: boolean;
  /** Checkpoint path, recorded in calibration.json. */
  checkpoint?: string;
  classNames?: string[];
  log?: (msg: string) => void;
}

/** Fields common to both reports, beyond EvalBase: what embedded and how it was compared. */
interface EmbeddingBase extends EvalBase {
  embedding: EmbeddingSource;
  similarity: 'cosine';
  /** SHA-256 of backbone + head weights (equals backbone_sha256 when embedding is backbone). */
  embedder_sha256: string;
}

export interface RetrievalReport extends EmbeddingBase, RetrievalMetrics { kind: 'retrieval' }

/** What `selfsup search` / `dedup` read: accept a pair as the same when cosine >= threshold. */
export interface Calibration {
  threshold: number;
  /** Target false-accept rate the threshold was chosen for. */
  far: number;
  /** False-accept rate measured at the threshold (<= far). */
  far_measured: number;
  tar: number;
  auc: number;
  eer: number;
  eer_threshold: number;
  similarity: 'cosine';
  embedding: EmbeddingSource;
  backbone_sha256: string;
  embedder_sha256: string;
  feature_dim: number;
  checkpoint?: string;
  pairs: { same: number; different: number; sampling: 'all' | 'sampled' };
}

export interface VerifyReport extends EmbeddingBase, Omit<Calibration, 'checkpoint' | 'feature_dim' | 'backbone_sha256' | 'embedder_sha256' | 'similarity' | 'embedding'> {
  kind: 'verify';
}

/** A file written next to the JSON report (retrieval.png, calibration.json, verify-roc.png). */
export interface ExtraFile { name: string; data: Buffer | string; plot: boolean }

export interface EmbeddingEvaluated<R> extends Evaluated<R> {
  files: ExtraFile[];
  calibration?: Calibration;
}

function requireClasses(ds: Dataset, what: string): Int32Array {
  if (!ds.labels) throw new UserError(`${ds.name}: the test split has no labels; eval ${what} needs a labelled data.eval_test`);
  const k = distinctLabels(ds.labels);
  if (k < 2) throw new UserError(`${ds.name}: eval ${what} needs at least 2 classes in the test split (data.eval_test / data.class_split), it has ${k}`);
  const { same } = pairCounts(ds.labels);
  if (same === 0) throw new UserError(`${ds.name}: every class of the test split has a single item; eval ${what} needs classes with 2 or more (data.eval_test, data.limit_test)`);
  return ds.labels;
}

/** Runs `body` on the frozen embedder and proves backbone and head stayed unchanged. */
async function frozen<R>(s: EmbeddingEvalSetup, what: string, body: () => Promise<R>) {
  const t0 = performance.now();
  const backboneHash = await weightsHash(s.embedder.backbone);
  const hash = await weightsHash(s.embedder);
  const value = await body();
  await assertWeightsUnchanged(s.embedder, hash, what);
  return { value, backboneHash, hash, seconds: (performance.now() - t0) / 1000 };
}

async function features(s: EmbeddingEvalSetup): Promise<FeatureSet> {
  let last = 0;
  return extractFeatures(s.embedder, s.test, s.transform, {
    batchSize: s.config.batch_size,
    normalize: true,
    onProgress: (done) => {
      if (s.log && (done - last >= 5000 || done === s.test.n)) { last = done; s.log(`features test (${s.embedder.embedding}): ${done}/${s.test.n}`); }
    },
  });
}

function base(f: FeatureSet, s: EmbeddingEvalSetup, labels: Int32Array, h: { backboneHash: string; hash: string; seconds: number }): EmbeddingBase {
  return {
    n_train: 0, n_test: f.n, feature_dim: f.dim, num_classes: distinctLabels(labels), backbone_sha256: h.backboneHash, seconds: h.seconds,
    embedding: s.embedder.embedding, similarity: 'cosine', embedder_sha256: h.hash,
  };
}

export async function evaluateRetrieval(s: EmbeddingEvalSetup): Promise<EmbeddingEvaluated<RetrievalReport>> {
  const labels = requireClasses(s.test, 'retrieval');
  const rc = s.config.retrieval ?? DEFAULT_RETRIEVAL;
  const h = await frozen(s, 'retrieval evaluation', async () => {
    const f = await features(s);
    const m = await retrievalMetrics(f.features, labels, f.dim, { tile: rc.query_tile, maxEntries: rc.max_entries });
    const sheet = s.plots && rc.sheet_queries > 0 ? await sheetRows(s, f, labels, rc.sheet_queries, rc.sheet_neighbours) : undefined;
    return { f, m, sheet };
  });
  const { f, m, sheet } = h.value;
  s.log?.(`retrieval (${s.embedder.embedding}, leave-one-out over ${m.num_queries} queries, ${m.skipped_queries} skipped): `
    + `P@1 ${pct(m.precision_at_1)} R-precision ${pct(m.r_precision)} MAP@R ${pct(m.map_at_r)}`);
  const files: ExtraFile[] = [];
  if (sheet) {
    files.push({ name: 'retrieval.png', plot: true, data: drawRetrievalSheet(sheet, `query, then its ${rc.sheet_neighbours} nearest (green: same class, red: other)`) });
  }
  return {
    report: { kind: 'retrieval', ...base(f, s, labels, h), ...m },
    labels, testFeatures: f, files,
  };
}

/** The sheet's rows: seeded queries and their nearest neighbours (self removed by index). */
async function sheetRows(s: EmbeddingEvalSetup, f: FeatureSet, labels: Int32Array, count: number, k: number): Promise<SheetRow[]> {
  const queries = pickSheetQueries(labels, count, new Rng(`retrieval-sheet:${s.seed}`));
  if (queries.length === 0) return [];
  const q = new Float32Array(queries.length * f.dim);
  queries.forEach((qi, r) => q.set(f.features.subarray(qi * f.dim, (qi + 1) * f.dim), r * f.dim));
  const nb = await nearestNeighbours(f.features, q, f.dim, Math.min(k + 1, f.n));
  const lists = queries.map((qi, r) => Array.from(nb.indices.subarray(r * nb.k, (r + 1) * nb.k)).map((idx, j) => ({ idx, sim: nb.sims[r * nb.k + j] }))
    .filter((e) => e.idx !== qi).slice(0, k));
  const wanted = [...new Set([...queries, ...lists.flat().map((e) => e.idx)])];
  const batch = await s.test.read(wanted);
  const per = batch.height * batch.width * batch.channels;
  const cellOf = new Map<number, Cell>(wanted.map((idx, t) => [idx, {
    data: batch.data.subarray(t * per, (t + 1) * per), height: batch.height, width: batch.width, channels: batch.channels,
  }]));
  return queries.map((qi, r) => ({
    query: cellOf.get(qi)!,
    label: s.classNames?.[labels[qi]] ?? String(labels[qi]),
    neighbours: lists[r].map((e) => ({ cell: cellOf.get(e.idx)!, same: labels[e.idx] === labels[qi], similarity: e.sim })),
  }));
}

export async function evaluateVerify(s: EmbeddingEvalSetup): Promise<EmbeddingEvaluated<VerifyReport>> {
  const labels = requireClasses(s.test, 'verify');
  const vc = s.config.verify ?? DEFAULT_VERIFY;
  const h = await frozen(s, 'verification', async () => {
    const f = await features(s);
    const pairs = verificationPairs(labels, vc.max_pairs, new Rng(`verify:${s.seed}`));
    const sims = pairSimilarities(f.features, f.dim, pairs);
    return { f, pairs, sims };
  });
  const { f, pairs, sims } = h.value;
  const v = summarizeVerification(sims, pairs.same, vc.far);
  if (pairs.nDifferent * vc.far < 1) {
    s.log?.(`note: ${pairs.nDifferent} different-class pairs cannot measure a false-accept rate of ${vc.far}; the threshold then rejects every different pair seen`);
  }
  const b = base(f, s, labels, h);
  const pairInfo = { same: pairs.nSame, different: pairs.nDifferent, sampling: pairs.sampling };
  const calibration: Calibration = {
    threshold: v.threshold, far: vc.far, far_measured: v.far, tar: v.tar, auc: v.auc, eer: v.eer, eer_threshold: v.eer_threshold,
    similarity: 'cosine', embedding: b.embedding, backbone_sha256: b.backbone_sha256, embedder_sha256: b.embedder_sha256,
    feature_dim: f.dim, checkpoint: s.checkpoint, pairs: pairInfo,
  };
  s.log?.(`verification (${s.embedder.embedding}, ${pairs.nSame} same / ${pairs.nDifferent} different pairs, ${pairs.sampling}): `
    + `AUC ${v.auc.toFixed(4)} EER ${pct(v.eer)}; at FAR ${v.far.toExponential(2)} TAR ${pct(v.tar)}, threshold ${v.threshold.toFixed(4)}`);
  const files: ExtraFile[] = [{ name: 'calibration.json', plot: false, data: JSON.stringify(calibration, null, 2) + '\n' }];
  if (s.plots) files.push({ name: 'verify-roc.png', plot: true, data: await plotRoc(rocCurve(sims, pairs.same), v.eer) });
  return {
    report: {
      kind: 'verify', ...b, threshold: v.threshold, far: vc.far, far_measured: v.far, tar: v.tar,
      auc: v.auc, eer: v.eer, eer_threshold: v.eer_threshold, pairs: pairInfo,
    },
    // No 2-D map for verification: the retrieval report draws it.
    labels, testFeatures: { features: new Float32Array(0), dim: f.dim, n: 0 }, files, calibration,
  };
}

/** ROC curve (TAR against FAR) as a Vega-Lite line chart, thinned to at most ~1000 points. */
export function rocSpec(c: RocCurve, eer: number): TopLevelSpec {
  const step = Math.max(1, Math.ceil(c.far.length / 1000));
  const idx = Array.from({ length: c.far.length }, (_, i) => i).filter((i) => i % step === 0 || i === c.far.length - 1);
  return lineChartSpec({
    title: 'verification ROC', xLabel: 'false accept rate', yLabel: 'true accept rate', yDomain: [0, 1], width: 420, height: 360,
    series: [
      { label: `ROC (EER ${pct(eer)})`, x: idx.map((i) => c.far[i]), y: idx.map((i) => c.tar[i]) },
      { label: 'chance', x: [0, 1], y: [0, 1] },
    ],
  });
}

async function plotRoc(c: RocCurve, eer: number): Promise<Buffer> {
  return (await renderChart(rocSpec(c, eer))).png;
}

function pct(x: number): string { return `${(100 * x).toFixed(2)}%`; }
