// The `selfsup views` picture: grid layout, undoing the normalization, and the
// command writing a PNG of the expected size from the embedded MNIST recipe.
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { composeGrid, viewCells, type Cell } from '../augment/grid.ts';
import { viewsCommand } from '../src/cli/views.ts';
import { isUserError } from '../src/util/errors.ts';

beforeAll(async () => { await tf.setBackend('cpu'); });

const cell = (v: number, channels = 1): Cell => ({ data: new Uint8Array(4 * channels).fill(v), height: 2, width: 2, channels });

describe('composeGrid', () => {
  it('places triplets row by row, zoomed, on a gray background', () => {
    const g = composeGrid([[cell(10), cell(20), cell(30)], [cell(40), cell(50, 3), cell(60)], [cell(70), cell(80), cell(90)]], { perRow: 2, zoom: 2, gap: 1 });
    // cell 4 px, triplet 3*4 + 2*1 = 14, outer gap 3: width 2*14 + 3*3 = 37, height 2*4 + 3*3 = 17
    expect([g.width, g.height]).toEqual([37, 17]);
    const px = (x: number, y: number) => Array.from(g.data.subarray((y * g.width + x) * 4, (y * g.width + x) * 4 + 4));
    expect(px(0, 0)).toEqual([96, 96, 96, 255]);
    expect(px(3, 3)).toEqual([10, 10, 10, 255]);
    expect(px(6, 6)).toEqual([10, 10, 10, 255]);
    expect(px(7, 3)).toEqual([96, 96, 96, 255]); // the gap inside a triplet
    expect(px(8, 3)).toEqual([20, 20, 20, 255]);
    expect(px(3 + 14 + 3 + 5, 3)).toEqual([50, 50, 50, 255]); // second triplet's view 1 (RGB)
    expect(px(3, 3 + 4 + 3)).toEqual([70, 70, 70, 255]); // second row
  });

  it('turns normalized views back into bytes', async () => {
    const v = tf.tensor4d([-1, 0, 1, 3], [1, 2, 2, 1]);
    expect(Array.from((await viewCells(v, [0.5], [0.5]))[0].data)).toEqual([0, 128, 255, 255]);
  });
});

describe('viewsCommand', () => {
  it('writes originals and their two views for the embedded MNIST recipe', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'selfsup-views-'));
    const out = join(dir, 'grid.png');
    await viewsCommand({ out, sets: ['data.limit_train=200'], n: 4, seed: 1 });
    const png = PNG.sync.read(readFileSync(out));
    rmSync(dir, { recursive: true, force: true });
    // 28 px zoomed 3x = 84; triplet 3*84 + 2*2 = 256; 2 x 2 triplets with 6 px outer gaps
    expect([png.width, png.height]).toEqual([530, 186]);
    // the first triplet: original and view 1 differ (digits preset crops and jitters)
    const at = (x: number, y: number) => png.data[(y * png.width + x) * 4];
    let differ = 0;
    for (let y = 0; y < 84; y++) for (let x = 0; x < 84; x++) differ += at(6 + x, 6 + y) !== at(6 + 86 + x, 6 + y) ? 1 : 0;
    expect(differ).toBeGreaterThan(100);
  });

  it('rejects a bad output name or count as user errors', async () => {
    for (const o of [{ out: 'grid.jpg', sets: [] }, { out: 'g.png', sets: [], n: 0 }]) {
      let err: unknown;
      try { await viewsCommand(o); } catch (e) { err = e; }
      expect(isUserError(err)).toBe(true);
    }
  });
});
