// A tiny RGBA canvas for image sheets (search results, retrieval neighbours):
// filled rectangles (frames, swatches) and 5x7 bitmap captions, encoded as PNG
// with pngjs. The pictures' pixels are copied in by the callers. Charts are not
// drawn here: they are Vega-Lite specs (eval/plots.ts, report/charts.ts).
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
