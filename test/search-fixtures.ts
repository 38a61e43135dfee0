// Shared by the search tests: a tiny random-init checkpoint (RGB, 32x32, 16-d
// features) and folders of small synthetic images made with sharp: seeded
// coloured rectangles, distinct from one another, plus planted near-duplicates.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { DEFAULT_RECIPE } from '../src/cli/common.ts';
import { weightsHash } from '../src/eval/guard.ts';
import { backboneFromRecipe } from '../src/methods/index.ts';
import { disposeModule } from '../src/models/module.ts';
import { loadRecipe } from '../src/recipe/index.ts';
import { saveCheckpoint } from '../src/train/checkpoint.ts';
import { Rng } from '../src/util/rng.ts';

export const TINY_SETS = ['model.widths=[16]', 'model.blocks=[1]', 'data.channels=3', 'data.image_size=32'];

/** A run folder with one checkpoint of a tiny backbone; returns its folder and weights hash. */
export async function tinyCheckpoint(seed = 'search', sets = TINY_SETS): Promise<{ run: string; fingerprint: string }> {
  const run = mkdtempSync(join(tmpdir(), 'selfsup-search-ck-'));
  const recipe = loadRecipe(DEFAULT_RECIPE, sets);
  const bb = backboneFromRecipe(recipe, new Rng(seed));
  const fingerprint = await weightsHash(bb);
  await saveCheckpoint(join(run, 'ckpt'), { step: 1, epoch: 0, batchInEpoch: 0, method: 'simclr', recipe }, [
    ...bb.params().map((p) => ({ name: p.name, group: 'param' as const, tensor: p.variable })),
    ...bb.buffers().map((p) => ({ name: p.name, group: 'state' as const, tensor: p.variable })),
  ], 1);
  disposeModule(bb);
  return { run, fingerprint };
}

/** RGB pixels of a seeded picture: a background and four rectangles. */
export function picture(seed: string, size = 64): Buffer {
  const rng = new Rng(seed);
  const px = Buffer.alloc(size * size * 3);
  const bg = [rng.int(256), rng.int(256), rng.int(256)];
  for (let p = 0; p < size * size; p++) for (let c = 0; c < 3; c++) px[p * 3 + c] = bg[c];
  for (let r = 0; r < 4; r++) {
    const x0 = rng.int(size - 8);
    const y0 = rng.int(size - 8);
    const w = 6 + rng.int(size / 2);
    const h = 6 + rng.int(size / 2);
    const col = [rng.int(256), rng.int(256), rng.int(256)];
    for (let y = y0; y < Math.min(size, y0 + h); y++) {
      for (let x = x0; x < Math.min(size, x0 + w); x++) for (let c = 0; c < 3; c++) px[(y * size + x) * 3 + c] = col[c];
    }
  }
  return px;
}

export async function writePicture(file: string, seed: string, size = 64): Promise<void> {
  const img = sharp(picture(seed, size), { raw: { width: size, height: size, channels: 3 } });
  await (file.endsWith('.jpg') ? img.jpeg({ quality: 92 }) : img.png()).toFile(file);
}

/** A folder of `n` distinct pictures named p000.png ... (and optional subfolder files). */
export async function pictureFolder(n: number, prefix = 'selfsup-search-img-'): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  for (let i = 0; i < n; i++) await writePicture(join(dir, name(i)), `pic${i}`);
  return dir;
}

export const name = (i: number) => `p${String(i).padStart(3, '0')}.png`;

/** Plants near-duplicates of `src`: re-encoded as JPEG at another quality, and cropped by one pixel column. */
export async function plantNearDuplicates(src: string, stem: string): Promise<[string, string]> {
  const jpg = `${stem}-q70.jpg`;
  const crop = `${stem}-crop.png`;
  const meta = await sharp(src).metadata();
  await sharp(src).jpeg({ quality: 70 }).toFile(jpg);
  await sharp(src).extract({ left: 1, top: 0, width: meta.width! - 1, height: meta.height! }).png().toFile(crop);
  return [jpg, crop];
}

export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  mkdirSync(d, { recursive: true });
  return d;
}

/** Runs the selfsup command in a child process. */
export function selfsup(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, ['bin/selfsup.js', ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** The same, without blocking (several can run at once). */
export function selfsupAsync(...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/selfsup.js', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

/** The --json contract: the last stdout line is one JSON object. */
export function lastJson(out: string): Record<string, unknown> {
  const lines = out.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as Record<string, unknown>;
}
