// Report plots as PNG buffers: accuracy curves over training, a confusion
// matrix heatmap and a 2-D scatter of embeddings coloured by label. All drawn
// with the small rasterizer in raster.ts; sizes are fixed by the caller so the
// files are predictable.
import {
  Canvas, BLACK, GREY, DARK_GREY, TEXT_HEIGHT, classColor, heatColor, textWidth, type Rgb,
} from './raster.ts';

export interface Series { label: string; x: number[]; y: number[] }

export interface PlotSize { width?: number; height?: number }

export interface LinePlotOptions extends PlotSize {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Fixed y range; default: the data range padded to nice ticks. */
  yRange?: [number, number];
}

interface Frame { left: number; top: number; right: number; bottom: number }

/** Round tick values covering [lo, hi], steps of 1, 2 or 5 times a power of ten. */
export function niceTicks(lo: number, hi: number, target = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [0, 1];
  if (hi - lo < 1e-12) { lo -= 0.5; hi += 0.5; }
  const raw = (hi - lo) / Math.max(1, target);
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw) ?? 10 * pow;
  const start = Math.floor(lo / step + 1e-9) * step;
  const ticks: number[] = [];
  for (let v = start; v <= hi + step * 0.5 && ticks.length < 50; v += step) ticks.push(Number(v.toFixed(10)));
  if (ticks[ticks.length - 1] < hi - 1e-9) ticks.push(Number((start + ticks.length * step).toFixed(10)));
  return ticks;
}

function formatTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(0);
  return String(Number(v.toPrecision(4)));
}

function drawTitle(c: Canvas, title: string): void {
  c.text(Math.max(4, Math.round((c.width - textWidth(title, 2)) / 2)), 8, title, BLACK, 2);
}

/** Line chart with axes, ticks, grid and a legend (top-left inside the frame). */
export function plotLines(series: Series[], opts: LinePlotOptions): Buffer {
  const c = new Canvas(opts.width ?? 640, opts.height ?? 420);
  drawTitle(c, opts.title);
  const f: Frame = { left: 64, top: 34, right: c.width - 16, bottom: c.height - 40 };
  const xs = series.flatMap((s) => s.x);
  const ys = series.flatMap((s) => s.y).filter(Number.isFinite);
  const xTicks = niceTicks(xs.length ? Math.min(...xs) : 0, xs.length ? Math.max(...xs) : 1);
  const yTicks = opts.yRange ? niceTicks(opts.yRange[0], opts.yRange[1]) : niceTicks(ys.length ? Math.min(...ys) : 0, ys.length ? Math.max(...ys) : 1);
  const [x0, x1] = [xTicks[0], xTicks[xTicks.length - 1]];
  const [y0, y1] = [yTicks[0], yTicks[yTicks.length - 1]];
  const px = (x: number) => f.left + ((x - x0) / (x1 - x0 || 1)) * (f.right - f.left);
  const py = (y: number) => f.bottom - ((y - y0) / (y1 - y0 || 1)) * (f.bottom - f.top);

  for (const t of yTicks) {
    c.line(f.left, py(t), f.right, py(t), GREY);
    const s = formatTick(t);
    c.text(f.left - 6 - textWidth(s), py(t) - 3, s, DARK_GREY);
  }
  for (const t of xTicks) {
    c.line(px(t), f.top, px(t), f.bottom, GREY);
    const s = formatTick(t);
    c.text(px(t) - textWidth(s) / 2, f.bottom + 6, s, DARK_GREY);
  }
  c.line(f.left, f.bottom, f.right, f.bottom, BLACK);
  c.line(f.left, f.top, f.left, f.bottom, BLACK);
  c.text((f.left + f.right - textWidth(opts.xLabel)) / 2, c.height - 14, opts.xLabel, BLACK);
  c.textVertical(6, (f.top + f.bottom - textWidth(opts.yLabel)) / 2, opts.yLabel, BLACK);

  series.forEach((s, i) => {
    const color = classColor(i, Math.max(series.length, 10));
    for (let k = 0; k < s.x.length; k++) {
      if (!Number.isFinite(s.y[k])) continue;
      if (k > 0 && Number.isFinite(s.y[k - 1])) c.line(px(s.x[k - 1]), py(s.y[k - 1]), px(s.x[k]), py(s.y[k]), color, 2);
      c.dot(px(s.x[k]), py(s.y[k]), 3, color);
    }
    const ly = f.top + 6 + i * (TEXT_HEIGHT + 6);
    c.fillRect(f.left + 8, ly, 12, 7, color);
    c.text(f.left + 26, ly, s.label, BLACK);
  });
  return c.toPng();
}

/** Counts [true][predicted]. */
export function confusionMatrix(labels: Int32Array, predictions: Int32Array, numClasses: number): number[][] {
  const m = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  labels.forEach((l, i) => { m[l][predictions[i]]++; });
  return m;
}

export interface ConfusionPlotOptions extends PlotSize { title: string; classNames?: string[] }

/** Heatmap of row-normalized confusion (true class per row), with the per-cell percentage when cells are large enough. */
export function plotConfusion(matrix: number[][], opts: ConfusionPlotOptions): Buffer {
  const c = new Canvas(opts.width ?? 560, opts.height ?? 560);
  drawTitle(c, opts.title);
  const n = matrix.length;
  const names = Array.from({ length: n }, (_, i) => (opts.classNames?.[i] ?? String(i)).slice(0, 8));
  const labelW = Math.max(...names.map((s) => textWidth(s)), 6) + 8;
  const f: Frame = { left: 18 + labelW, top: 34 + labelW, right: c.width - 10, bottom: c.height - 10 };
  const cell = Math.max(1, Math.floor(Math.min(f.right - f.left, f.bottom - f.top) / Math.max(1, n)));
  for (let i = 0; i < n; i++) {
    const rowSum = matrix[i].reduce((a, b) => a + b, 0);
    for (let j = 0; j < n; j++) {
      const frac = rowSum ? matrix[i][j] / rowSum : 0;
      const x = f.left + j * cell;
      const y = f.top + i * cell;
      c.fillRect(x, y, cell, cell, heatColor(frac));
      const s = String(Math.round(frac * 100));
      if (cell >= textWidth(s) + 4 && cell >= TEXT_HEIGHT + 4 && matrix[i][j] > 0) {
        c.text(x + (cell - textWidth(s)) / 2, y + (cell - TEXT_HEIGHT) / 2, s, frac > 0.5 ? [255, 255, 255] : BLACK);
      }
    }
    if (cell >= TEXT_HEIGHT) {
      c.text(f.left - 4 - textWidth(names[i]), f.top + i * cell + (cell - TEXT_HEIGHT) / 2, names[i], BLACK);
      c.textVertical(f.left + i * cell + (cell - TEXT_HEIGHT) / 2, f.top - 4 - textWidth(names[i]), names[i], BLACK);
    }
  }
  c.text(4, f.top - 14, 'TRUE', DARK_GREY);
  c.text(f.left + (n * cell - textWidth('PREDICTED')) / 2, f.top - labelW - 10, 'PREDICTED', DARK_GREY);
  return c.toPng();
}

export interface ScatterPlotOptions extends PlotSize { title: string; classNames?: string[]; numClasses?: number }

/** Scatter of 2-D points (row-major x, y) coloured by label, with a legend on the right. */
export function plotScatter(points: Float32Array | number[], labels: Int32Array, opts: ScatterPlotOptions): Buffer {
  const c = new Canvas(opts.width ?? 640, opts.height ?? 520);
  drawTitle(c, opts.title);
  const n = labels.length;
  const k = opts.numClasses ?? (n ? Math.max(...labels) + 1 : 0);
  const legendW = 90;
  const f: Frame = { left: 12, top: 34, right: c.width - legendW - 12, bottom: c.height - 12 };
  let [minX, maxX, minY, maxY] = [Infinity, -Infinity, Infinity, -Infinity];
  for (let i = 0; i < n; i++) {
    minX = Math.min(minX, points[2 * i]); maxX = Math.max(maxX, points[2 * i]);
    minY = Math.min(minY, points[2 * i + 1]); maxY = Math.max(maxY, points[2 * i + 1]);
  }
  const sx = (f.right - f.left - 8) / (maxX - minX || 1);
  const sy = (f.bottom - f.top - 8) / (maxY - minY || 1);
  c.line(f.left, f.top, f.right, f.top, GREY);
  c.line(f.left, f.bottom, f.right, f.bottom, GREY);
  c.line(f.left, f.top, f.left, f.bottom, GREY);
  c.line(f.right, f.top, f.right, f.bottom, GREY);
  for (let i = 0; i < n; i++) {
    const x = f.left + 4 + (points[2 * i] - minX) * sx;
    const y = f.bottom - 4 - (points[2 * i + 1] - minY) * sy;
    c.dot(x, y, 2.2, classColor(labels[i], k), 0.8);
  }
  for (let i = 0; i < k; i++) {
    const y = f.top + 4 + i * (TEXT_HEIGHT + 5);
    if (y + TEXT_HEIGHT > c.height) break;
    const color: Rgb = classColor(i, k);
    c.fillRect(f.right + 10, y, 10, 7, color);
    c.text(f.right + 24, y, (opts.classNames?.[i] ?? String(i)).slice(0, 10), BLACK);
  }
  return c.toPng();
}
