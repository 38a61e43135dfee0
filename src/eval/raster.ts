// A tiny RGBA rasterizer for report plots: filled rectangles, thick lines,
// round dots and bitmap text, encoded as PNG with pngjs. Enough for line
// charts, heatmaps and scatter plots without a canvas library.
import { PNG } from 'pngjs';
import { ADVANCE, GLYPH_H, GLYPH_W, glyph } from './font.ts';

export type Rgb = readonly [number, number, number];

export const WHITE: Rgb = [255, 255, 255];
export const BLACK: Rgb = [0, 0, 0];
export const GREY: Rgb = [200, 200, 200];
export const DARK_GREY: Rgb = [90, 90, 90];

export class Canvas {
  readonly data: Uint8Array;

  constructor(readonly width: number, readonly height: number, background: Rgb = WHITE) {
    this.data = new Uint8Array(width * height * 4);
    this.fillRect(0, 0, width, height, background);
  }

  /** Blends `color` over pixel (x, y) with opacity `alpha`; outside pixels are ignored. */
  pixel(x: number, y: number, color: Rgb, alpha = 1): void {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const o = (y * this.width + x) * 4;
    for (let c = 0; c < 3; c++) this.data[o + c] = Math.round(this.data[o + c] * (1 - alpha) + color[c] * alpha);
    this.data[o + 3] = 255;
  }

  fillRect(x: number, y: number, w: number, h: number, color: Rgb): void {
    const x0 = Math.max(0, Math.round(x));
    const y0 = Math.max(0, Math.round(y));
    const x1 = Math.min(this.width, Math.round(x + w));
    const y1 = Math.min(this.height, Math.round(y + h));
    for (let yy = y0; yy < y1; yy++) {
      for (let xx = x0; xx < x1; xx++) {
        const o = (yy * this.width + xx) * 4;
        this.data[o] = color[0]; this.data[o + 1] = color[1]; this.data[o + 2] = color[2]; this.data[o + 3] = 255;
      }
    }
  }

  /** A line of the given thickness, drawn as overlapping square stamps along its length. */
  line(x0: number, y0: number, x1: number, y1: number, color: Rgb, thickness = 1): void {
    const steps = Math.max(1, Math.ceil(Math.hypot(x1 - x0, y1 - y0)));
    const r = (thickness - 1) / 2;
    for (let i = 0; i <= steps; i++) {
      const x = x0 + ((x1 - x0) * i) / steps;
      const y = y0 + ((y1 - y0) * i) / steps;
      this.fillRect(x - r, y - r, Math.max(1, thickness), Math.max(1, thickness), color);
    }
  }

  /** A filled disc of radius `r`. */
  dot(cx: number, cy: number, r: number, color: Rgb, alpha = 1): void {
    for (let y = Math.floor(cy - r); y <= Math.ceil(cy + r); y++) {
      for (let x = Math.floor(cx - r); x <= Math.ceil(cx + r); x++) {
        if ((x - cx) ** 2 + (y - cy) ** 2 <= r * r) this.pixel(x, y, color, alpha);
      }
    }
  }

  /** Text with its top-left corner at (x, y); `scale` multiplies the 5x7 font. */
  text(x: number, y: number, s: string, color: Rgb = BLACK, scale = 1): void {
    for (let i = 0; i < s.length; i++) {
      const g = glyph(s[i]);
      const ox = x + i * ADVANCE * scale;
      for (let gy = 0; gy < GLYPH_H; gy++) {
        for (let gx = 0; gx < GLYPH_W; gx++) {
          if (g[gy * GLYPH_W + gx]) this.fillRect(ox + gx * scale, y + gy * scale, scale, scale, color);
        }
      }
    }
  }

  /** Text rotated 90 degrees counter-clockwise (reads bottom to top), top-left of its box at (x, y). */
  textVertical(x: number, y: number, s: string, color: Rgb = BLACK, scale = 1): void {
    const len = s.length * ADVANCE * scale;
    for (let i = 0; i < s.length; i++) {
      const g = glyph(s[i]);
      for (let gy = 0; gy < GLYPH_H; gy++) {
        for (let gx = 0; gx < GLYPH_W; gx++) {
          if (!g[gy * GLYPH_W + gx]) continue;
          const px = x + gy * scale;
          const py = y + len - (i * ADVANCE + gx + 1) * scale;
          this.fillRect(px, py, scale, scale, color);
        }
      }
    }
  }

  toPng(): Buffer {
    const png = new PNG({ width: this.width, height: this.height });
    png.data = Buffer.from(this.data.buffer, this.data.byteOffset, this.data.byteLength);
    return PNG.sync.write(png);
  }
}

export function textWidth(s: string, scale = 1): number {
  return s.length ? (s.length * ADVANCE - 1) * scale : 0;
}

export const TEXT_HEIGHT = GLYPH_H;

/** Ten well-separated colours (the matplotlib 'tab10' palette), cycled past ten classes. */
const TAB10: Rgb[] = [
  [31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
  [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207],
];

/** A colour per class: tab10 first, then evenly spaced hues. */
export function classColor(i: number, n: number): Rgb {
  if (n <= TAB10.length) return TAB10[i];
  return hsv((i / n) * 360, 0.75, 0.85);
}

function hsv(h: number, s: number, v: number): Rgb {
  const c = v * s;
  const x = c * (1 - Math.abs(((h / 60) % 2) - 1));
  const m = v - c;
  const [r, g, b] = h < 60 ? [c, x, 0] : h < 120 ? [x, c, 0] : h < 180 ? [0, c, x] : h < 240 ? [0, x, c] : h < 300 ? [x, 0, c] : [c, 0, x];
  return [Math.round((r + m) * 255), Math.round((g + m) * 255), Math.round((b + m) * 255)];
}

/** White-to-blue ramp for heatmaps; t in [0, 1]. */
export function heatColor(t: number): Rgb {
  const u = Math.min(1, Math.max(0, t));
  return [Math.round(255 - u * (255 - 8)), Math.round(255 - u * (255 - 48)), Math.round(255 - u * (255 - 107))];
}
