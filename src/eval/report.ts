// Evaluation reports on disk: one JSON file per evaluation plus Vega-Lite
// charts as PNG (listed in the JSON) with the same chart as SVG beside each:
// k-NN accuracy over pretraining (from the run's metrics.jsonl), a confusion
// matrix of the test predictions, and a 2-D map of the test embeddings.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MetricsRecord } from '../log/metrics.ts';
import { Rng } from '../util/rng.ts';
import { embed2d, subsample } from './embedding.ts';
import type { Evaluated } from './evaluate.ts';
import type { TopLevelSpec } from 'vega-lite';
import { lineChartSpec } from '../report/charts.ts';
import { confusionMatrix, confusionSpec, renderChart, scatterSpec, type Series } from './plots.ts';

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

/** Renders `spec` to `<path>.png` (returned) and the same chart to `<path>.svg`. */
async function writeChart(path: string, spec: TopLevelSpec): Promise<string> {
  const { svg, png } = await renderChart(spec);
  writeFileSync(`${path}.png`, png);
  writeFileSync(`${path}.svg`, svg);
  return `${path}.png`;
}

/** Writes `<kind>.json` and `<kind>-*.png` (+ `.svg`) into `outDir`; returns the report (with file paths). */
export async function writeReport<R extends { kind: string }>(ev: Evaluated<R>, ctx: ReportContext): Promise<WrittenReport> {
  mkdirSync(ctx.outDir, { recursive: true });
  const kind = ev.report.kind;
  const plots: string[] = [];
  if (ctx.plots) {
    const curve = accuracyCurve(ctx.metrics ?? []);
    if (curve.length) {
      plots.push(await writeChart(join(ctx.outDir, `${kind}-accuracy`), lineChartSpec({
        title: 'k-NN accuracy during pretraining', xLabel: 'epoch', yLabel: 'accuracy', series: curve, yDomain: [0, 1], points: true,
      })));
    }
    if (ev.predictions) {
      const m = confusionMatrix(ev.labels, ev.predictions, ctx.numClasses);
      plots.push(await writeChart(join(ctx.outDir, `${kind}-confusion`), confusionSpec(m, { title: `confusion: ${kind} on test`, classNames: ctx.classNames })));
    }
    if (ctx.mapPoints > 0 && ev.testFeatures.n > 1) {
      const rng = new Rng(`map:${ctx.seed}`);
      const idx = subsample(ev.testFeatures.n, ctx.mapPoints, rng);
      const { dim } = ev.testFeatures;
      const rows = new Float32Array(idx.length * dim);
      idx.forEach((i, r) => rows.set(ev.testFeatures.features.subarray(i * dim, (i + 1) * dim), r * dim));
      ctx.log?.(`2-D map of ${idx.length} test embeddings (UMAP)...`);
      const xy = embed2d(rows, dim, { rng });
      const labels = Int32Array.from(idx, (i) => ev.labels[i]);
      plots.push(await writeChart(join(ctx.outDir, `${kind}-embedding`), scatterSpec(xy, labels, {
        title: `test embeddings (${idx.length < 8 ? 'PCA' : 'UMAP'})`, classNames: ctx.classNames, numClasses: ctx.numClasses,
      })));
    }
  }
  const json = join(ctx.outDir, `${kind}.json`);
  const report = { ...ctx.meta, ...ev.report, files: { json, plots } } as Record<string, unknown>;
  writeFileSync(json, JSON.stringify(report, null, 2) + '\n');
  return { report, json, plots };
}
