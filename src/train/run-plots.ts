// PNG pictures of a run for people: the loss and the k-NN accuracy over training,
// drawn from metrics.jsonl (so they cover a resumed run as a whole). The charts
// are the same Vega-Lite ones as `selfsup report` (src/report/run-charts.ts).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readMetrics } from '../log/metrics.ts';
import { renderPng } from '../report/charts.ts';
import { knnChart, lossChart } from '../report/run-charts.ts';

export async function writeRunPlots(runDir: string): Promise<string[]> {
  const records = readMetrics(join(runDir, 'metrics.jsonl'));
  const written: string[] = [];
  for (const [file, chart] of [['loss.png', lossChart(records)], ['knn-accuracy.png', knnChart(records)]] as const) {
    if (!chart || !chart.series.some((s) => s.x.length > 1)) continue;
    const p = join(runDir, file);
    writeFileSync(p, await renderPng(chart.spec));
    written.push(p);
  }
  return written;
}
