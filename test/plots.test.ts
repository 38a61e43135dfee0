import { describe, it, expect } from 'vitest';
import { PNG } from 'pngjs';
import { plotLines, plotConfusion, plotScatter, confusionMatrix, niceTicks } from '../src/eval/plots.ts';
import { Canvas } from '../src/eval/raster.ts';
import { glyph } from '../src/eval/font.ts';
import { embed2d, pca2d, subsample } from '../src/eval/embedding.ts';
import { Rng } from '../src/util/rng.ts';

function decode(buf: Buffer): PNG {
  // Valid PNG: signature, then pngjs parses all chunks (CRCs checked).
  expect(Array.from(buf.subarray(0, 8))).toEqual([137, 80, 78, 71, 13, 10, 26, 10]);
  return PNG.sync.read(buf);
}

function distinctColors(png: PNG): number {
  const s = new Set<number>();
  for (let i = 0; i < png.data.length; i += 4) s.add((png.data[i] << 16) | (png.data[i + 1] << 8) | png.data[i + 2]);
  return s.size;
}

describe('plots', () => {
  it('line plot is a valid PNG of the requested size with drawn content', () => {
    const png = decode(plotLines(
      [{ label: 'knn top-1', x: [0, 5, 10], y: [0.2, 0.6, 0.8] }, { label: 'top-5', x: [0, 5, 10], y: [0.5, 0.9, 0.95] }],
      { title: 'k-NN accuracy', xLabel: 'epoch', yLabel: 'accuracy', width: 400, height: 300 },
    ));
    expect([png.width, png.height]).toEqual([400, 300]);
    expect(distinctColors(png)).toBeGreaterThan(4);
  });

  it('confusion matrix counts and heatmap', () => {
    const m = confusionMatrix(new Int32Array([0, 0, 1, 2, 2]), new Int32Array([0, 1, 1, 2, 0]), 3);
    expect(m).toEqual([[1, 1, 0], [0, 1, 0], [1, 0, 1]]);
    const png = decode(plotConfusion(m, { title: 'confusion', classNames: ['a', 'b', 'c'], width: 300, height: 320 }));
    expect([png.width, png.height]).toEqual([300, 320]);
    // The diagonal cell of class 1 (100%) is the darkest colour of the ramp.
    let darkest = 255 * 3;
    for (let i = 0; i < png.data.length; i += 4) darkest = Math.min(darkest, png.data[i] + png.data[i + 1] + png.data[i + 2]);
    expect(darkest).toBeLessThan(8 + 48 + 107 + 1);
  });

  it('scatter plot colours points by label', () => {
    const rng = new Rng(0);
    const pts = Float32Array.from({ length: 60 }, () => rng.normal());
    const labels = Int32Array.from({ length: 30 }, (_, i) => i % 3);
    const png = decode(plotScatter(pts, labels, { title: 'map', width: 320, height: 240 }));
    expect([png.width, png.height]).toEqual([320, 240]);
    // tab10 blue (class 0) is present.
    let found = false;
    for (let i = 0; i < png.data.length; i += 4) if (png.data[i] === 31 && png.data[i + 1] === 119 && png.data[i + 2] === 180) found = true;
    expect(found).toBe(true);
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

  it('nice ticks cover the range with round steps', () => {
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(3, 97)).toEqual([0, 20, 40, 60, 80, 100]);
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
