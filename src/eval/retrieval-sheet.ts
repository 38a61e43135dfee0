// retrieval.png: what the retrieval numbers look like. One row per query (a
// seeded pick, one per class), the query on the left in a grey frame, then its
// nearest neighbours best first, each framed green (same class) or red, with
// its cosine similarity underneath. Drawn with the report rasterizer.
import type { Cell } from '../../augment/grid.ts';
import { Rng } from '../util/rng.ts';
import { BLACK, Canvas, DARK_GREY, TEXT_HEIGHT, textWidth, type Rgb } from './raster.ts';

export interface SheetNeighbour { cell: Cell; same: boolean; similarity: number }
export interface SheetRow { query: Cell; label: string; neighbours: SheetNeighbour[] }

const SAME: Rgb = [30, 160, 60];
const DIFFERENT: Rgb = [215, 40, 40];
const FRAME = 3;
const GAP = 6;
const QUERY_GAP = 18;

/**
 * Query items for the sheet: up to `count` classes that have a second member, chosen with `rng`
 * (shuffled, first `count`, shown in label order), and one seeded member of each.
 */
export function pickSheetQueries(labels: Int32Array, count: number, rng: Rng): number[] {
  const members = new Map<number, number[]>();
  labels.forEach((y, i) => { const m = members.get(y); if (m) m.push(i); else members.set(y, [i]); });
  const classes = [...members.keys()].filter((y) => members.get(y)!.length > 1).sort((a, b) => a - b);
  const chosen = (rng.shuffle(classes) as number[]).slice(0, count).sort((a, b) => a - b);
  return chosen.map((y) => { const m = members.get(y)!; return m[rng.int(m.length)]; });
}

/** Integer zoom that shows small images (MNIST's 28 px) at a readable size. */
function zoomFor(cells: Cell[]): number {
  const side = Math.max(1, ...cells.map((c) => Math.max(c.height, c.width)));
  return Math.max(1, Math.floor(64 / side));
}

function drawCell(c: Canvas, cell: Cell, x0: number, y0: number, zoom: number): void {
  for (let y = 0; y < cell.height * zoom; y++) {
    for (let x = 0; x < cell.width * zoom; x++) {
      const s = (Math.floor(y / zoom) * cell.width + Math.floor(x / zoom)) * cell.channels;
      const d = ((y0 + y) * c.width + x0 + x) * 4;
      const rgb = cell.channels >= 3;
      c.data[d] = cell.data[s];
      c.data[d + 1] = cell.data[s + (rgb ? 1 : 0)];
      c.data[d + 2] = cell.data[s + (rgb ? 2 : 0)];
      c.data[d + 3] = 255;
    }
  }
}

/** The sheet as a PNG buffer. */
export function drawRetrievalSheet(rows: SheetRow[], title: string): Buffer {
  const cells = rows.flatMap((r) => [r.query, ...r.neighbours.map((n) => n.cell)]);
  const zoom = zoomFor(cells);
  const side = Math.max(1, ...cells.map((c) => Math.max(c.height, c.width))) * zoom;
  const box = side + 2 * FRAME;
  const perRow = Math.max(0, ...rows.map((r) => r.neighbours.length));
  const rowH = box + TEXT_HEIGHT + 2 * GAP;
  const top = 10 + 2 * TEXT_HEIGHT + 10;
  const width = Math.max(GAP + box + QUERY_GAP + perRow * (box + GAP) + GAP, textWidth(title, 2) + 20);
  const c = new Canvas(width, top + rows.length * rowH + GAP);
  c.text(10, 10, title, BLACK, 2);
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    c.fillRect(GAP, y, box, box, DARK_GREY);
    drawCell(c, r.query, GAP + FRAME, y + FRAME, zoom);
    c.text(GAP, y + box + 3, r.label.slice(0, Math.max(1, Math.floor(box / 6))), BLACK);
    r.neighbours.forEach((nb, j) => {
      const x = GAP + box + QUERY_GAP + j * (box + GAP);
      c.fillRect(x, y, box, box, nb.same ? SAME : DIFFERENT);
      drawCell(c, nb.cell, x + FRAME, y + FRAME, zoom);
      c.text(x, y + box + 3, nb.similarity.toFixed(3), nb.same ? SAME : DIFFERENT);
    });
  });
  return c.toPng();
}
