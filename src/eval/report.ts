// Evaluation reports on disk: one JSON file per evaluation plus PNG plots:
// k-NN accuracy over pretraining (from the run's metrics.jsonl), a confusion
// matrix of the test predictions, and a 2-D map of the test embeddings.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MetricsRecord } from '../log/metrics.ts';
import { Rng } from '../util/rng.ts';
import { embed2d, subsample } from './embedding.ts';
import type { Evaluated } from './evaluate.ts';
import { confusionMatrix, plotConfusion, plotLines, plotScatter, type Series } from './plots.ts';

/**
 * k-NN top-1 / top-5 per epoch from metrics.jsonl records of kind 'knn'
 * (written at init, every eval.every epochs, and at the end). A later record
 * for the same epoch (e.g. after a resume) replaces the earlier one.
 */
export function accuracyCurve(records: MetricsRecord[]): Series[] {
  const byEpoch = new Map<number, { top1?: number; top5?: number }>();
  for (const r of records) {
    if (r.kind !== 'knn' || typeof r.epoch !== 'number') continue;
    byEpoch.set(r.epoch, { top1: num(r.top1), top5: num(r.top5) });
  }
  const epochs = [...byEpoch.keys()].sort((a, b) => a - b);
  const series: Series[] = [];
  for (const key of ['top1', 'top5'] as const) {
    const pts = epochs.filter((e) => byEpoch.get(e)![key] !== undefined);
    if (pts.length) series.push({ label: `k-NN ${key === 'top1' ? 'top-1' : 'top-5'}`, x: pts, y: pts.map((e) => byEpoch.get(e)![key]!) });
  }
  return series;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

export interface ReportContext {
  outDir: string;
  /** Extra top-level fields: checkpoint path, step, method, recipe name, backend... */
  meta: Record<string, unknown>;
  metrics?: MetricsRecord[];
  classNames?: string[];
  numClasses: number;
  plots: boolean;
  /** Most test points in the 2-D map. */
  mapPoints: number;
  seed: number | string;
  log?: (msg: string) => void;
}

export interface WrittenReport {
  /** The report object as written to JSON. */
  report: Record<string, unknown>;
  json: string;
  plots: string[];
}

/** Writes `<kind>.json` and `<kind>-*.png` into `outDir`; returns the report (with file paths). */
export function writeReport<R extends { kind: string }>(ev: Evaluated<R>, ctx: ReportContext): WrittenReport {
  mkdirSync(ctx.outDir, { recursive: true });
  const kind = ev.report.kind;
  const plots: string[] = [];
  if (ctx.plots) {
    const curve = accuracyCurve(ctx.metrics ?? []);
    if (curve.length) {
      const p = join(ctx.outDir, `${kind}-accuracy.png`);
      writeFileSync(p, plotLines(curve, { title: 'k-NN accuracy during pretraining', xLabel: 'epoch', yLabel: 'accuracy', yRange: [0, 1] }));
      plots.push(p);
    }
    if (ev.predictions) {
      const p = join(ctx.outDir, `${kind}-confusion.png`);
      const m = confusionMatrix(ev.labels, ev.predictions, ctx.numClasses);
      writeFileSync(p, plotConfusion(m, { title: `confusion: ${kind} on test`, classNames: ctx.classNames }));
      plots.push(p);
    }
    if (ctx.mapPoints > 0 && ev.testFeatures.n > 1) {
      const p = join(ctx.outDir, `${kind}-embedding.png`);
      const rng = new Rng(`map:${ctx.seed}`);
      const idx = subsample(ev.testFeatures.n, ctx.mapPoints, rng);
      const { dim } = ev.testFeatures;
      const rows = new Float32Array(idx.length * dim);
      idx.forEach((i, r) => rows.set(ev.testFeatures.features.subarray(i * dim, (i + 1) * dim), r * dim));
      ctx.log?.(`2-D map of ${idx.length} test embeddings (UMAP)...`);
      const xy = embed2d(rows, dim, { rng });
      const labels = Int32Array.from(idx, (i) => ev.labels[i]);
      writeFileSync(p, plotScatter(xy, labels, { title: `test embeddings (${idx.length < 8 ? 'PCA' : 'UMAP'})`, classNames: ctx.classNames, numClasses: ctx.numClasses }));
      plots.push(p);
    }
  }
  const json = join(ctx.outDir, `${kind}.json`);
  const report = { ...ctx.meta, ...ev.report, files: { json, plots } } as Record<string, unknown>;
  writeFileSync(json, JSON.stringify(report, null, 2) + '\n');
  return { report, json, plots };
}
