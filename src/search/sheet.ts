// Contact sheets for people to look at: one row per query (the query, then its
// neighbours) or per duplicate group, each tile a thumbnail with a caption
// (score, id). Thumbnails come from sharp; text from the report plots' 5x7 font.
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { Canvas, DARK_GREY, GREY, textWidth, type Rgb } from '../eval/raster.ts';

export interface SheetTile {
  /** Image file to show; a grey box when absent or undecodable. */
  file?: string;
  /** Caption lines under the thumbnail (kept short: they are cut to the tile width). */
  caption: string[];
  /** Frame colour, e.g. to mark the query. */
  frame?: Rgb;
}

export interface SheetOptions { thumb?: number; title?: string }

const PAD = 6;
const LINE = 10;
export const QUERY_FRAME: Rgb = [31, 119, 180];

/** Draws rows of tiles into a PNG file. */
export async function writeSheet(file: string, rows: SheetTile[][], opts: SheetOptions = {}): Promise<void> {
  const t = opts.thumb ?? 96;
  const lines = Math.max(1, ...rows.flat().map((r) => r.caption.length));
  const cellW = t + PAD;
  const cellH = t + PAD + lines * LINE + 4;
  const cols = Math.max(1, ...rows.map((r) => r.length));
  const top = opts.title ? 16 : 0;
  const canvas = new Canvas(PAD + cols * cellW, top + PAD + rows.length * cellH);
  if (opts.title) canvas.text(PAD, 5, cut(opts.title, canvas.width - 2 * PAD), DARK_GREY);
  for (let r = 0; r < rows.length; r++) {
    for (let c = 0; c < rows[r].length; c++) {
      const tile = rows[r][c];
      const x = PAD + c * cellW;
      const y = top + PAD + r * cellH;
      if (tile.frame) canvas.fillRect(x - 3, y - 3, t + 6, t + 6, tile.frame);
      canvas.fillRect(x, y, t, t, GREY);
      const px = tile.file ? await thumbnail(tile.file, t) : undefined;
      if (px) blit(canvas, px, x, y, t);
      tile.caption.forEach((s, i) => canvas.text(x, y + t + 4 + i * LINE, cut(s, t), DARK_GREY));
    }
  }
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, canvas.toPng());
}

/** RGBA t x t, the whole image fitted inside (letterboxed in grey). */
async function thumbnail(file: string, t: number): Promise<Uint8Array | undefined> {
  try {
    const { data } = await sharp(file).rotate().resize(t, t, { fit: 'contain', background: { r: 200, g: 200, b: 200, alpha: 1 } })
      .flatten({ background: '#c8c8c8' }).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    return new Uint8Array(data.buffer, data.byteOffset, data.length);
  } catch {
    return undefined;
  }
}

function blit(canvas: Canvas, px: Uint8Array, x0: number, y0: number, t: number): void {
  for (let y = 0; y < t; y++) {
    const dst = ((y0 + y) * canvas.width + x0) * 4;
    canvas.data.set(px.subarray(y * t * 4, (y + 1) * t * 4), dst);
  }
}

/** The longest prefix that fits `width` pixels (with an ellipsis-like '~' when cut). */
function cut(s: string, width: number): string {
  if (textWidth(s) <= width) return s;
  let n = s.length;
  while (n > 0 && textWidth(`~${s.slice(s.length - n)}`) > width) n--;
  // Keep the end: for paths the file name matters most.
  return `~${s.slice(s.length - n)}`;
}
