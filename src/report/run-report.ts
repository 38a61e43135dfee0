// `selfsup report RUN_DIR`: one self-contained HTML page for a run (no
// scripts, no external files: charts are inline SVG, pictures data: URIs):
// final numbers, the curves from metrics.jsonl, the augmented-view grid, the
// embedding map when an eval wrote one, and the resolved recipe.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readMetrics, type MetricsRecord } from '../log/metrics.ts';
import { UserError } from '../util/errors.ts';
import { renderSvg } from './charts.ts';
import { knnChart, lossChart, lossPartsChart, lrChart, retrievalChart, type RunChart } from './run-charts.ts';

export interface RunReportOptions {
  /** Make the view grid from the run's recipe when the folder has no views.png (default true). */
  views?: boolean;
  log?: (line: string) => void;
}

export interface RunReport { html: string; charts: string[]; pictures: string[]; notes: string[] }

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function fmt(v: unknown): string {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(4);
  return esc(String(v));
}

function dataUri(file: string): string {
  return `data:image/png;base64,${fs.readFileSync(file).toString('base64')}`;
}

/** Rows of the final-numbers table: the summary, the last k-NN and the retrieval records (init and final). */
function finalNumbers(records: MetricsRecord[]): [string, string][] {
  const rows: [string, string][] = [];
  const summary = records.filter((r) => r.kind === 'summary').at(-1);
  if (summary) {
    rows.push(['steps', fmt(summary.step)], ['epochs', fmt(summary.epoch)]);
    for (const k of ['loss', 'images_per_sec', 'seconds']) if (summary[k] !== undefined) rows.push([`final ${k.replace(/_/g, ' ')}`, fmt(summary[k])]);
  }
  const knn = records.filter((r) => r.kind === 'knn');
  const first = knn.find((r) => r.when === 'init');
  const last = knn.at(-1);
  if (first) rows.push(['k-NN top-1 (random init)', fmt(first.top1)]);
  if (last && last !== first) rows.push([`k-NN top-1 (${last.when === 'final' ? 'trained' : `epoch ${last.epoch}`})`, fmt(last.top1)], ['k-NN top-5', fmt(last.top5)]);
  for (const r of records.filter((x) => x.kind === 'retrieval')) {
    const when = r.when === 'init' ? 'before training' : r.when === 'final' ? 'trained' : `step ${r.step}`;
    for (const [k, label] of [['precision_at_1', 'P@1'], ['r_precision', 'R-precision'], ['map_at_r', 'MAP@R']]) {
      if (typeof r[k] === 'number') rows.push([`retrieval ${label} (${when})`, fmt(r[k])]);
    }
  }
  return rows;
}

async function viewGrid(runDir: string, recipeFile: string, opts: RunReportOptions, notes: string[]): Promise<string | undefined> {
  const own = path.join(runDir, 'views.png');
  if (fs.existsSync(own)) return own;
  if (opts.views === false || !fs.existsSync(recipeFile)) return undefined;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'selfsup-report-'));
  const out = path.join(tmp, 'views.png');
  try {
    const { viewsCommand } = await import('../cli/views.ts');
    await viewsCommand({ recipePath: recipeFile, out, sets: [], n: 8 });
    fs.renameSync(out, own);
    return own;
  } catch (e) {
    notes.push(`no view grid: ${(e as Error).message.split('\n')[0]}`);
    return undefined;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

export async function buildRunReport(runDir: string, opts: RunReportOptions = {}): Promise<RunReport> {
  const metricsFile = path.join(runDir, 'metrics.jsonl');
  if (!fs.existsSync(runDir) || !fs.statSync(runDir).isDirectory()) throw new UserError(`${runDir}: not a folder; give a run folder (from selfsup pretrain)`);
  if (!fs.existsSync(metricsFile)) throw new UserError(`${runDir}: no metrics.jsonl in it; give a run folder (from selfsup pretrain)`);
  const records = readMetrics(metricsFile);
  const recipeFile = path.join(runDir, 'recipe.yaml');
  const recipe = fs.existsSync(recipeFile) ? fs.readFileSync(recipeFile, 'utf8') : undefined;
  const notes: string[] = [];
  const charts = [lossChart(records), lossPartsChart(records), lrChart(records), knnChart(records), retrievalChart(records)].filter((c): c is RunChart => c !== undefined);
  const svgs = await Promise.all(charts.map((c) => renderSvg(c.spec)));
  const grid = await viewGrid(runDir, recipeFile, opts, notes);
  const evalDir = path.join(runDir, 'eval');
  const maps = fs.existsSync(evalDir) ? fs.readdirSync(evalDir).filter((f) => f.endsWith('-embedding.png')).sort().map((f) => path.join(evalDir, f)) : [];
  const pictures = [...(grid ? [grid] : []), ...maps];
  const name = path.basename(path.resolve(runDir));
  const rows = finalNumbers(records);
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>selfsup run ${esc(name)}</title>
<link rel="icon" href="data:,">
<style>
body { font: 15px/1.4 system-ui, sans-serif; margin: 24px; color: #222; max-width: 1200px; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; }
table { border-collapse: collapse; } td { padding: 3px 14px 3px 0; border-bottom: 1px solid #eee; }
td:last-child { font-variant-numeric: tabular-nums; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; } .charts svg { max-width: 100%; height: auto; }
pre { background: #f6f6f6; padding: 12px; overflow: auto; font-size: 13px; }
img { image-rendering: pixelated; max-width: 100%; border: 1px solid #ddd; }
</style></head><body>
<h1>Run ${esc(name)}</h1>
<p>${esc(path.resolve(runDir))} — ${records.length} metrics records</p>
<h2>Final numbers</h2>
${rows.length ? `<table>${rows.map(([k, v]) => `<tr><td>${esc(k)}</td><td>${v}</td></tr>`).join('')}</table>` : '<p>no summary yet (the run has not finished)</p>'}
<h2>Curves</h2>
${charts.length ? `<div class="charts">${svgs.map((s, i) => `<figure id="chart-${charts[i].name}">${s}</figure>`).join('\n')}</div>` : '<p>metrics.jsonl has no curves yet</p>'}
${grid ? `<h2>Augmented views</h2><p>each image, then its two views</p><img id="views" alt="augmented views" src="${dataUri(grid)}">` : ''}
${maps.map((m) => `<h2>Embedding map (${esc(path.basename(m))})</h2><img class="map" alt="embedding map" src="${dataUri(m)}">`).join('\n')}
${notes.length ? `<h2>Notes</h2><ul>${notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : ''}
${recipe !== undefined ? `<h2>Recipe</h2><pre>${esc(recipe)}</pre>` : ''}
</body></html>
`;
  return { html, charts: charts.map((c) => c.name), pictures, notes };
}
