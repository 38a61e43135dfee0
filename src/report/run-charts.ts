// The charts of a run, from its metrics.jsonl records: training loss, its
// logged terms (Barlow Twins, VICReg) and learning rate per step (kind 'train'), k-NN accuracy per epoch (kind 'knn'),
// retrieval metrics per step (kind 'retrieval').
import type { MetricsRecord } from '../log/metrics.ts';
import { lineChartSpec, type LineChart, type Series } from './charts.ts';

export interface RunChart { name: string; series: Series[]; spec: ReturnType<typeof lineChartSpec> }

const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

function chart(name: string, c: LineChart): RunChart | undefined {
  return c.series.length === 0 ? undefined : { name, series: c.series, spec: lineChartSpec(c) };
}

function trainSeries(records: MetricsRecord[], key: string, label: string): Series[] {
  const rows = records.filter((r) => r.kind === 'train' && num(r[key]));
  return rows.length ? [{ label, x: rows.map((r) => r.step), y: rows.map((r) => r[key] as number) }] : [];
}

export function lossChart(records: MetricsRecord[]): RunChart | undefined {
  return chart('loss', { title: 'Training loss', xLabel: 'step', yLabel: 'loss', series: trainSeries(records, 'loss', 'training loss') });
}

/** The unweighted loss terms some methods log (Barlow Twins, VICReg), one series each. */
const LOSS_PARTS: [string, string][] = [
  ['invariance', 'invariance'], ['redundancy', 'redundancy (off-diagonal)'], ['variance', 'variance hinge'], ['covariance', 'covariance'],
];

export function lossPartsChart(records: MetricsRecord[]): RunChart | undefined {
  const series = LOSS_PARTS.flatMap(([key, label]) => trainSeries(records, key, label));
  return chart('loss-parts', { title: 'Loss terms (unweighted)', xLabel: 'step', yLabel: 'value', series });
}

export function lrChart(records: MetricsRecord[]): RunChart | undefined {
  return chart('lr', { title: 'Learning rate', xLabel: 'step', yLabel: 'learning rate', series: trainSeries(records, 'lr', 'learning rate') });
}

/** k-NN top-1 / top-5 per epoch (the last record of an epoch wins, as a resumed run may repeat one). */
export function knnChart(records: MetricsRecord[]): RunChart | undefined {
  const byEpoch = new Map<number, MetricsRecord>();
  for (const r of records) if (r.kind === 'knn' && num(r.epoch)) byEpoch.set(r.epoch, r);
  const epochs = [...byEpoch.keys()].sort((a, b) => a - b);
  const series: Series[] = [];
  for (const [key, label] of [['top1', 'k-NN top-1'], ['top5', 'k-NN top-5']] as const) {
    const xs = epochs.filter((e) => num(byEpoch.get(e)![key]));
    if (xs.length) series.push({ label, x: xs, y: xs.map((e) => byEpoch.get(e)![key] as number) });
  }
  return chart('knn', { title: 'k-NN accuracy during pretraining', xLabel: 'epoch', yLabel: 'accuracy', yDomain: [0, 1], points: true, series });
}

const RETRIEVAL: [string, string][] = [['precision_at_1', 'P@1'], ['r_precision', 'R-precision'], ['map_at_r', 'MAP@R']];

export function retrievalChart(records: MetricsRecord[]): RunChart | undefined {
  const rows = records.filter((r) => r.kind === 'retrieval');
  const series = RETRIEVAL.map(([key, label]) => {
    const pts = rows.filter((r) => num(r[key]));
    return { label, x: pts.map((r) => r.step), y: pts.map((r) => r[key] as number) };
  }).filter((s) => s.x.length > 0);
  return chart('retrieval', { title: 'Retrieval on unseen classes', xLabel: 'step', yLabel: 'score', yDomain: [0, 1], points: true, series });
}
