import { describe, it, expect } from 'vitest';
import sharp from 'sharp';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import { classLabels, confusionMatrix, confusionSpec, renderChart, scatterSpec, PNG_DENSITY, type RenderedChart } from '../src/eval/plots.ts';
import { lineChartSpec } from '../src/report/charts.ts';
import { accuracyCurve } from '../src/eval/report.ts';
import { rocSpec } from '../src/eval/evaluate-retrieval.ts';
import { rocCurve } from '../src/eval/verify.ts';
import { Canvas } from '../src/eval/raster.ts';
import { glyph } from '../src/eval/font.ts';
import { embed2d, pca2d, subsample } from '../src/eval/embedding.ts';
import { Rng } from '../src/util/rng.ts';

type Scale = ((v: unknown) => number) & { bandwidth?: () => number };

/** Where data values land in the PNG: Vega's own layout of the spec (origin, padding, x/y scales), times the 2x density. */
async function layout(spec: RenderedChart['spec']) {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  await view.runAsync();
  const [ox, oy] = view.origin();
  const pad = view.padding() as { left: number; top: number };
  const x = view.scale('x') as Scale;
  const y = view.scale('y') as Scale;
  view.finalize();
  const k = PNG_DENSITY / 72;
  return { x, y, px: (sx: number, sy: number): [number, number] => [Math.round((ox + pad.left + sx) * k), Math.round((oy + pad.top + sy) * k)] };
}

async function pixels(png: Buffer) {
  // Valid PNG: signature, then sharp decodes it.
  expect(Array.from(png.subarray(0, 8))).toEqual([137, 80, 78, 71, 13, 10, 26, 10]);
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  return {
    info,
    at: ([x, y]: [number, number]): number[] => Array.from(data.subarray((y * info.width + x) * info.channels, (y * info.width + x) * info.channels + 3)),
  };
}

const isWhite = (c: number[]) => c.every((v) => v >= 250);

describe('eval charts (Vega-Lite)', () => {
  it('accuracy chart: the spec holds the curve; marks are drawn at the data points; PNG is the SVG at 2x', async () => {
    const curve = accuracyCurve([
      { kind: 'knn', step: 0, epoch: 0, time: '', top1: 0.2, top5: 0.5 },
      { kind: 'knn', step: 5, epoch: 5, time: '', top1: 0.6, top5: 0.9 },
      { kind: 'knn', step: 9, epoch: 10, time: '', top1: 0.8, top5: 0.95 },
    ]);
    const spec = lineChartSpec({ title: 'k-NN accuracy', xLabel: 'epoch', yLabel: 'accuracy', series: curve, yDomain: [0, 1], points: true });
    const values = (spec as { data: { values: { series: string; x: number; y: number }[] } }).data.values;
    expect(values).toEqual(curve.flatMap((s) => s.x.map((x, i) => ({ series: s.label, x, y: s.y[i] }))));
    const chart = await renderChart(spec);
    const img = await pixels(chart.png);
    const [, w, h] = /^<svg[^>]* width="(\d+)" height="(\d+)"/.exec(chart.svg)!;
    expect([img.info.width, img.info.height]).toEqual([2 * Number(w), 2 * Number(h)]);
    const l = await layout(spec);
    for (const v of values) expect(isWhite(img.at(l.px(l.x(v.x), l.y(v.y))))).toBe(false);
    // Between the curves (top-1 0.48, top-5 0.78 at epoch 3.5) and off the grid lines there is no mark.
    expect(isWhite(img.at(l.px(l.x(3.5), l.y(0.65))))).toBe(true);
  });

  it('confusion matrix: counts, the spec\'s row fractions, and cell shades ordered by fraction', async () => {
    const m = confusionMatrix(new Int32Array([0, 0, 1, 2, 2, 2]), new Int32Array([0, 1, 1, 2, 0, 2]), 3);
    expect(m).toEqual([[1, 1, 0], [0, 1, 0], [1, 0, 2]]);
    const spec = confusionSpec(m, { title: 'confusion', classNames: ['cat', 'dog', 'bird'], size: 240 });
    const values = (spec as { data: { values: { true: string; predicted: string; count: number; fraction: number }[] } }).data.values;
    const names = ['cat', 'dog', 'bird'];
    expect(values.map((v) => [names.indexOf(v.true), names.indexOf(v.predicted), v.count])).toEqual(m.flatMap((r, i) => r.map((c, j) => [i, j, c])));
    expect(values.map((v) => v.fraction)).toEqual([0.5, 0.5, 0, 0, 1, 0, 1 / 3, 0, 2 / 3]);
    const img = await pixels((await renderChart(spec)).png);
    const l = await layout(spec);
    const bw = l.x.bandwidth!();
    // A point in the cell's upper-left fifth, clear of the percentage text.
    const shade = (t: string, p: string) => img.at(l.px(l.x(p) + bw * 0.2, l.y(t) + bw * 0.2)).reduce((a, b) => a + b, 0);
    const [full, half, third, none] = [shade('dog', 'dog'), shade('cat', 'cat'), shade('bird', 'cat'), shade('dog', 'cat')];
    expect(full).toBeLessThan(half);
    expect(half).toBeLessThan(third);
    expect(third).toBeLessThan(none);
    expect(none).toBeLessThan(3 * 250); // empty cells are drawn (lightest shade), not background
    expect(shade('cat', 'dog')).toBe(half);
  });

  it('scatter: the spec holds the points and class names; each point is drawn in its class colour', async () => {
    const pts = [0, 0, 10, 0, 0, 10, 10, 10];
    const labels = new Int32Array([0, 1, 2, 0]);
    const spec = scatterSpec(pts, labels, { title: 'map', classNames: ['zero', 'one', 'two'], width: 200, height: 160 });
    const values = (spec as { data: { values: { x: number; y: number; class: string }[] } }).data.values;
    expect(values).toEqual([{ x: 0, y: 0, class: 'zero' }, { x: 10, y: 0, class: 'one' }, { x: 0, y: 10, class: 'two' }, { x: 10, y: 10, class: 'zero' }]);
    const img = await pixels((await renderChart(spec)).png);
    const l = await layout(spec);
    // category10 blue, orange, green at opacity 0.8 over white.
    const tab = [[31, 119, 180], [255, 127, 14], [44, 160, 44]].map((c) => c.map((v) => 0.8 * v + 0.2 * 255));
    values.forEach((v, i) => {
      const got = img.at(l.px(l.x(v.x), l.y(v.y)));
      got.forEach((c, ch) => expect(Math.abs(c - tab[labels[i]][ch])).toBeLessThan(4));
    });
    expect(isWhite(img.at(l.px(l.x(5), l.y(5))))).toBe(true);
  });

  it('ROC chart: thinned to ~1000 (FAR, TAR) points of the curve, ending at its last point, plus the chance diagonal', () => {
    const rng = new Rng(3);
    const n = 2500;
    const scores = Float64Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 0.4 : 0) + 0.3 * rng.normal());
    const positive = Uint8Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 1 : 0));
    const c = rocCurve(scores, positive);
    const values = (rocSpec(c, 0.25) as { data: { values: { series: string; x: number; y: number }[] } }).data.values;
    const roc = values.filter((v) => v.series === 'ROC (EER 25.00%)');
    expect(roc.length).toBeGreaterThan(500);
    expect(roc.length).toBeLessThanOrEqual(1001);
    const pairs = new Set(Array.from(c.far, (f, i) => `${f},${c.tar[i]}`));
    for (const v of roc) expect(pairs.has(`${v.x},${v.y}`)).toBe(true);
    expect(roc[roc.length - 1]).toMatchObject({ x: c.far[c.far.length - 1], y: c.tar[c.tar.length - 1] });
    expect(values.filter((v) => v.series === 'chance').map((v) => [v.x, v.y])).toEqual([[0, 0], [1, 1]]);
  });

  it('class labels are cut and made unique', () => {
    expect(classLabels(3, ['a', 'a', 'a-very-long-class-name'])).toEqual(['a', 'a #1', 'a-very-long-']);
    expect(classLabels(2)).toEqual(['0', '1']);
  });

  it('rasterizer draws exact pixels and bitmap text', () => {
    const c = new Canvas(8, 9);
    c.fillRect(1, 1, 2, 3, [10, 20, 30]);
    expect(Array.from(c.data.subarray((1 * 8 + 1) * 4, (1 * 8 + 1) * 4 + 4))).toEqual([10, 20, 30, 255]);
    expect(Array.from(c.data.subarray(0, 4))).toEqual([255, 255, 255, 255]);
    const t = new Canvas(6, 7);
    t.text(0, 0, '1', [0, 0, 0]);
    const g = glyph('1');
    for (let y = 0; y < 7; y++) for (let x = 0; x < 5; x++) expect(t.data[(y * 6 + x) * 4]).toBe(g[y * 5 + x] ? 0 : 255);
    expect(Array.from(glyph('a'))).toEqual(Array.from(glyph('A')));
  });

  it('2-D embedding: PCA recovers the dominant axis; UMAP is seeded; subsample is sorted and distinct', () => {
    // Points on a line along (1, 1, 0): PCA's first coordinate carries all the spread.
    const f = new Float32Array([0, 0, 0, 1, 1, 0, 2, 2, 0, 3, 3, 0]);
    const p = pca2d(f, 3);
    const first = [p[0], p[2], p[4], p[6]];
    expect(Math.abs(first[3] - first[0])).toBeCloseTo(3 * Math.SQRT2, 4);
    for (let i = 0; i < 4; i++) expect(Math.abs(p[2 * i + 1])).toBeLessThan(1e-6);
    const rng = new Rng(5);
    const x = Float32Array.from({ length: 40 * 4 }, () => rng.normal());
    const a = embed2d(x, 4, { rng: new Rng(1), nEpochs: 50 });
    const b = embed2d(x, 4, { rng: new Rng(1), nEpochs: 50 });
    expect(a.length).toBe(80);
    expect(Array.from(a)).toEqual(Array.from(b));
    const s = subsample(100, 10, new Rng(0));
    expect(s.length).toBe(10);
    expect(new Set(s).size).toBe(10);
    expect(Array.from(s)).toEqual(Array.from(s).sort((u, v) => u - v));
  });
});
