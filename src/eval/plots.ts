// Evaluation report charts as Vega-Lite specifications: a confusion matrix
// heatmap and a 2-D scatter of embeddings coloured by label (line charts, such
// as the k-NN accuracy curve and the ROC, use lineChartSpec from
// report/charts.ts). Vega lays out axes, legends and text; renderChart turns a
// spec into SVG and PNG bytes. The specs carry the data they draw, so tests and
// readers can check a chart against its inputs.
import type { TopLevelSpec } from 'vega-lite';
import { CHART_FONT as FONT, PNG_DENSITY, VEGA_LITE_SCHEMA, renderSvg, svgToPng, type Series } from '../report/charts.ts';

export type { Series };

export { PNG_DENSITY };

/** Counts [true][predicted]. */
export function confusionMatrix(labels: Int32Array, predictions: Int32Array, numClasses: number): number[][] {
  const m = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  labels.forEach((l, i) => { m[l][predictions[i]]++; });
  return m;
}

/** Axis names for classes 0..n-1: given names (cut to 12 characters) or indices, made unique so no two classes share a band. */
export function classLabels(n: number, classNames?: string[]): string[] {
  const seen = new Set<string>();
  return Array.from({ length: n }, (_, i) => {
    let s = (classNames?.[i] ?? String(i)).slice(0, 12);
    if (seen.has(s)) s = `${s} #${i}`;
    seen.add(s);
    return s;
  });
}

export interface ConfusionChart {
  title: string;
  classNames?: string[];
  /** Plot area in CSS pixels (the PNG is twice this plus axes and title). */
  size?: number;
}

/** One heatmap cell: counts and the fraction of the true class's row. */
export interface ConfusionCell { true: string; predicted: string; count: number; fraction: number }

/** Heatmap of row-normalized confusion (true class per row) with per-cell percentages while cells are large enough to read. */
export function confusionSpec(matrix: number[][], c: ConfusionChart): TopLevelSpec {
  const n = matrix.length;
  const names = classLabels(n, c.classNames);
  const values: ConfusionCell[] = [];
  matrix.forEach((row, i) => {
    const sum = row.reduce((a, b) => a + b, 0);
    row.forEach((count, j) => values.push({ true: names[i], predicted: names[j], count, fraction: sum ? count / sum : 0 }));
  });
  const size = c.size ?? 420;
  const showText = n > 0 && size / n >= 18;
  // With many classes, Vega drops labels that would overlap instead of printing them over each other.
  const axis = { labelLimit: 90, labelOverlap: 'greedy' as const, ticks: n <= 30 };
  const x = { field: 'predicted', type: 'ordinal' as const, sort: names, title: 'predicted', axis: { ...axis, orient: 'top' as const, labelAngle: -45 } };
  const y = { field: 'true', type: 'ordinal' as const, sort: names, title: 'true', axis };
  return {
    $schema: VEGA_LITE_SCHEMA,
    title: { text: c.title, orient: 'bottom' },
    width: size,
    height: size,
    background: 'white',
    data: { values },
    encoding: { x, y },
    layer: [
      {
        mark: { type: 'rect', tooltip: true },
        encoding: {
          color: { field: 'fraction', type: 'quantitative', title: 'of row', scale: { domain: [0, 1], scheme: 'blues' }, legend: { format: '.0%' } },
        },
      },
      ...(showText ? [{
        mark: { type: 'text' as const, fontSize: Math.min(12, Math.floor(size / n / 2.6)) },
        transform: [{ filter: 'datum.count > 0' }],
        encoding: {
          text: { field: 'fraction', type: 'quantitative' as const, format: '.0%' },
          color: { condition: { test: 'datum.fraction > 0.5', value: 'white' }, value: 'black' },
        },
      }] : []),
    ],
    config: { font: FONT },
  } as TopLevelSpec;
}

export interface ScatterChart {
  title: string;
  classNames?: string[];
  numClasses?: number;
  width?: number;
  height?: number;
}

/** One scatter point: 2-D coordinates and its class's name. */
export interface ScatterPoint { x: number; y: number; class: string }

/** Scatter of 2-D points (row-major x, y) coloured by label; the legend lists classes in index order. */
export function scatterSpec(points: Float32Array | number[], labels: Int32Array, c: ScatterChart): TopLevelSpec {
  const n = labels.length;
  const k = c.numClasses ?? (n ? Math.max(...labels) + 1 : 0);
  const names = classLabels(k, c.classNames);
  const values: ScatterPoint[] = Array.from({ length: n }, (_, i) => ({ x: points[2 * i], y: points[2 * i + 1], class: names[labels[i]] }));
  // The map's coordinates carry no units (UMAP / PCA), so no axes: a frame only.
  const axis = { field: '', type: 'quantitative' as const, scale: { zero: false, nice: false, padding: 8 }, axis: null };
  return {
    $schema: VEGA_LITE_SCHEMA,
    title: c.title,
    width: c.width ?? 520,
    height: c.height ?? 440,
    background: 'white',
    data: { values },
    mark: { type: 'circle', size: 18, opacity: 0.8 },
    encoding: {
      x: { ...axis, field: 'x' },
      y: { ...axis, field: 'y' },
      color: {
        field: 'class', type: 'nominal', title: null,
        scale: { domain: names, scheme: k <= 10 ? 'category10' : 'category20' },
        legend: { symbolLimit: 30, labelLimit: 100 },
      },
    },
    config: { font: FONT, view: { stroke: '#bbb' } },
  } as TopLevelSpec;
}

export interface RenderedChart { spec: TopLevelSpec; svg: string; png: Buffer }

/** A spec rendered once to SVG, and that SVG rasterized by sharp (librsvg) to PNG. */
export async function renderChart(spec: TopLevelSpec): Promise<RenderedChart> {
  const svg = await renderSvg(spec);
  const png = await svgToPng(svg);
  return { spec, svg, png };
}
