// selfsup report and the run plots: charts built from metrics.jsonl (checked
// against the records), PNGs through Vega-Lite + sharp, one self-contained HTML
// page, rendered in headless chromium without console errors.
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type StaticServer } from '../src/cli/serve.ts';
import { readMetrics } from '../src/log/metrics.ts';
import { buildRunReport } from '../src/report/run-report.ts';
import { knnChart, lossChart, lossPartsChart, lrChart, retrievalChart } from '../src/report/run-charts.ts';
import { writeRunPlots } from '../src/train/run-plots.ts';
import { UserError } from '../src/util/errors.ts';
import { ARTIFACTS, browserMissing, launchChromium } from './browser-helpers.ts';
import { tempDir } from './search-fixtures.ts';

function fakeRun(): string {
  const dir = tempDir('selfsup-report-run-');
  const t = '2026-01-01T00:00:00.000Z';
  const rows: object[] = [
    { kind: 'knn', step: 0, epoch: 0, time: t, top1: 0.5, top5: 0.9, when: 'init' },
    { kind: 'retrieval', step: 0, epoch: 0, time: t, precision_at_1: 0.4, r_precision: 0.2, map_at_r: 0.1, when: 'init' },
  ];
  for (let s = 1; s <= 12; s++) rows.push({ kind: 'train', step: s * 5, epoch: Math.floor(s / 4), time: t, loss: 6 - s * 0.25, lr: 0.1 * Math.min(1, s / 4) });
  rows.push({ kind: 'knn', step: 20, epoch: 1, time: t, top1: 0.6, top5: 0.95 });
  rows.push({ kind: 'knn', step: 20, epoch: 1, time: t, top1: 0.62, top5: 0.96 }); // a resumed run repeats the epoch: the last wins
  rows.push({ kind: 'knn', step: 60, epoch: 3, time: t, top1: 0.8, top5: 0.99, when: 'final' });
  rows.push({ kind: 'retrieval', step: 60, epoch: 3, time: t, precision_at_1: 0.7, r_precision: 0.4, map_at_r: 0.3, when: 'final' });
  rows.push({ kind: 'summary', step: 60, epoch: 3, time: t, loss: 3, images_per_sec: 123.4, seconds: 9.5 });
  fs.writeFileSync(path.join(dir, 'metrics.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n') + '\n{"kind":"tr');
  fs.writeFileSync(path.join(dir, 'recipe.yaml'), 'name: test-<recipe>\ntrain:\n  epochs: 3\n');
  return dir;
}

describe('run charts and plots', () => {
  it('charts carry exactly the records of their kind', () => {
    const recs = readMetrics(path.join(fakeRun(), 'metrics.jsonl'));
    const loss = lossChart(recs)!;
    expect(loss.series[0].x).toEqual([5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60]);
    expect(loss.series[0].y).toEqual(Array.from({ length: 12 }, (_, i) => 6 - (i + 1) * 0.25));
    expect(lrChart(recs)!.series[0].y[0]).toBeCloseTo(0.025, 12);
    const knn = knnChart(recs)!;
    expect(knn.series.map((s) => s.label)).toEqual(['k-NN top-1', 'k-NN top-5']);
    expect(knn.series[0]).toMatchObject({ x: [0, 1, 3], y: [0.5, 0.62, 0.8] });
    const ret = retrievalChart(recs)!;
    expect(ret.series.map((s) => [s.label, s.y])).toEqual([['P@1', [0.4, 0.7]], ['R-precision', [0.2, 0.4]], ['MAP@R', [0.1, 0.3]]]);
    expect(lossChart([])).toBeUndefined();
    expect(lossPartsChart(recs)).toBeUndefined(); // SimCLR-like records: no loss terms
  });

  it('the loss-terms chart has one series per logged term (VICReg), only from train records', () => {
    const t = '2026-12-01T00:00:00.000Z';
    const recs = [1, 2, 3].map((step) => ({ kind: 'train', step, epoch: 0, time: t, loss: 20 - step, invariance: 1 / step, variance: 0.5, covariance: step }));
    recs.push({ kind: 'summary', step: 3, epoch: 0, time: t, loss: 17, invariance: 99, variance: 99, covariance: 99 });
    const parts = lossPartsChart(recs as never)!;
    expect(parts.series.map((s) => [s.label, s.x, s.y])).toEqual([
      ['invariance', [1, 2, 3], [1, 0.5, 1 / 3]], ['variance hinge', [1, 2, 3], [0.5, 0.5, 0.5]], ['covariance', [1, 2, 3], [1, 2, 3]],
    ]);
  });

  it('writeRunPlots: loss.png and knn-accuracy.png rendered by Vega-Lite through sharp', async () => {
    const dir = fakeRun();
    const files = await writeRunPlots(dir);
    expect(files.map((f) => path.basename(f))).toEqual(['loss.png', 'knn-accuracy.png']);
    for (const f of files) {
      const m = await sharp(f).metadata();
      expect(m.format).toBe('png');
      expect(m.width).toBeGreaterThan(900); // 2x density of a ~520 px wide chart
      // Not blank: the line colour (Vega's default blue, #4c78a8) is there.
      const { data, info } = await sharp(f).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      let blue = 0;
      for (let p = 0; p < info.width * info.height; p++) {
        if (Math.abs(data[3 * p] - 0x4c) < 12 && Math.abs(data[3 * p + 1] - 0x78) < 12 && Math.abs(data[3 * p + 2] - 0xa8) < 12) blue++;
      }
      expect(blue).toBeGreaterThan(200);
    }
    const one = tempDir('selfsup-report-one-');
    fs.writeFileSync(path.join(one, 'metrics.jsonl'), '{"kind":"train","step":1,"epoch":0,"time":"","loss":1}\n');
    expect(await writeRunPlots(one)).toEqual([]);
  });

  it('buildRunReport: one self-contained page; bad folders are user errors', async () => {
    const dir = fakeRun();
    await sharp({ create: { width: 60, height: 20, channels: 3, background: '#808080' } }).png().toFile(path.join(dir, 'views.png'));
    fs.mkdirSync(path.join(dir, 'eval'));
    await sharp({ create: { width: 30, height: 30, channels: 3, background: '#ff0000' } }).png().toFile(path.join(dir, 'eval', 'knn-embedding.png'));
    const r = await buildRunReport(dir);
    expect(r.charts).toEqual(['loss', 'lr', 'knn', 'retrieval']);
    expect(r.html.match(/<svg /g)).toHaveLength(4);
    expect(r.html).toContain('name: test-&lt;recipe&gt;');
    expect(r.html).toContain('<td>k-NN top-1 (trained)</td><td>0.8000</td>');
    expect(r.html).toContain('<td>retrieval MAP@R (trained)</td><td>0.3000</td>');
    expect(r.html).not.toMatch(/<script|src="(?!data:)|href="(?!data:)/);
    expect(r.pictures.map((p) => path.basename(p))).toEqual(['views.png', 'knn-embedding.png']);
    await expect(buildRunReport(tempDir('selfsup-report-empty-'))).rejects.toThrow(UserError);
    await expect(buildRunReport('/nonexistent/run')).rejects.toThrow(/not a folder/);
  });
});

const skip = browserMissing();

describe.skipIf(skip !== undefined)('report page in headless chromium', () => {
  let server: StaticServer;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let dir: string;

  beforeAll(async () => {
    dir = fakeRun();
    await sharp({ create: { width: 60, height: 20, channels: 3, background: '#808080' } }).png().toFile(path.join(dir, 'views.png'));
    fs.writeFileSync(path.join(dir, 'index.html'), (await buildRunReport(dir)).html);
    server = await startServer(dir, { port: 0 });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('renders its charts and pictures with no console errors', async () => {
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(server.url);
    await page.waitForLoadState('load');
    const sizes = await page.evaluate(() => Array.from(document.querySelectorAll('.charts svg'), (s) => {
      const b = s.getBoundingClientRect();
      return [b.width, b.height, s.querySelectorAll('path').length];
    }));
    expect(sizes).toHaveLength(4);
    for (const [w, h, paths] of sizes) {
      expect(w).toBeGreaterThan(300);
      expect(h).toBeGreaterThan(150);
      expect(paths).toBeGreaterThan(0);
    }
    expect(await page.evaluate(() => (document.getElementById('views') as HTMLImageElement).naturalWidth)).toBe(60);
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'report.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  });
});
