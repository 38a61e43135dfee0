// Charts for people: Vega-Lite specifications rendered headless in Node to SVG
// (for the HTML report) and to PNG through sharp (for the run folder's
// loss.png / knn-accuracy.png). Vega lays out axes, ticks, legends and text;
// nothing here draws pixels.
import sharp from 'sharp';
import * as vega from 'vega';
import * as vl from 'vega-lite';

export interface Series { label: string; x: number[]; y: number[] }

export interface LineChart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Fixed y domain (e.g. [0, 1] for accuracies); default: fitted to the data. */
  yDomain?: [number, number];
  /** Log-scaled y (for losses spanning decades). */
  yLog?: boolean;
  /** Draw a point at each value (for curves with few points). */
  points?: boolean;
  width?: number;
  height?: number;
}

/** Fonts librsvg finds on Debian first: every chart (run report, eval plots) uses the same. */
export const CHART_FONT = 'DejaVu Sans, Liberation Sans, Arial, sans-serif';
/** The Vega-Lite version every chart spec declares (the installed vega-lite renders it). */
export const VEGA_LITE_SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

/** Rasterization density of chart PNGs: 144 dpi is 2x the SVG's CSS pixels. */
export const PNG_DENSITY = 144;

/** The Vega-Lite spec of a multi-series line chart (one colour per series, legend below). */
export function lineChartSpec(c: LineChart): vl.TopLevelSpec {
  const values = c.series.flatMap((s) => s.x.map((x, i) => ({ series: s.label, x, y: s.y[i] })).filter((d) => Number.isFinite(d.y)));
  return {
    $schema: VEGA_LITE_SCHEMA,
    title: c.title,
    width: c.width ?? 520,
    height: c.height ?? 260,
    background: 'white',
    data: { values },
    mark: { type: 'line', point: c.points ?? false, tooltip: true },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: c.xLabel },
      y: {
        field: 'y', type: 'quantitative', title: c.yLabel,
        scale: { ...(c.yDomain ? { domain: c.yDomain } : { zero: false }), ...(c.yLog ? { type: 'log' } : {}) },
      },
      color: { field: 'series', type: 'nominal', title: null, legend: { orient: 'bottom' } },
    },
    config: { font: CHART_FONT },
  };
}

/** A Vega-Lite spec as a standalone SVG string (no browser, no canvas). */
export async function renderSvg(spec: vl.TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** A Vega-Lite spec as PNG bytes (SVG rasterized by sharp's librsvg at `density` dpi; 144 = 2x). */
export async function renderPng(spec: vl.TopLevelSpec, density = PNG_DENSITY): Promise<Buffer> {
  return svgToPng(await renderSvg(spec), density);
}

/** An SVG rasterized by sharp (librsvg) at `density` dpi. */
export function svgToPng(svg: string, density = PNG_DENSITY): Promise<Buffer> {
  return sharp(Buffer.from(svg), { density }).png().toBuffer();
}
