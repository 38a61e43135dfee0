// The run folder: recipe.yaml, metrics.jsonl, events.out.tfevents.*, ckpt/, backbone/.
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { listCheckpoints } from './checkpoint.ts';

export interface RunPaths { dir: string; recipe: string; metrics: string; ckpt: string; backbone: string; summary: string }

export function runPaths(dir: string): RunPaths {
  return {
    dir, recipe: join(dir, 'recipe.yaml'), metrics: join(dir, 'metrics.jsonl'), ckpt: join(dir, 'ckpt'),
    backbone: join(dir, 'backbone'), summary: join(dir, 'summary.json'),
  };
}

function timestamp(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/**
 * Where a run writes. `--out DIR` is used as the run folder itself; without it a
 * new `checkpoints/<name>-<timestamp>/`. With --resume and no --out, the newest
 * run folder of that recipe name that holds a checkpoint.
 */
export function chooseRunDir(name: string, out: string | undefined, resume: boolean, root = 'checkpoints'): string {
  if (out) return out;
  if (resume && existsSync(root)) {
    const runs = readdirSync(root)
      .filter((d) => d.startsWith(`${name}-`) && listCheckpoints(join(root, d, 'ckpt')).length > 0)
      .map((d) => ({ d, t: statSync(join(root, d)).mtimeMs }))
      .sort((a, b) => b.t - a.t);
    if (runs.length > 0) return join(root, runs[0].d);
  }
  let dir = join(root, `${name}-${timestamp()}`);
  for (let i = 2; existsSync(dir); i++) dir = join(root, `${name}-${timestamp()}-${i}`);
  return dir;
}

export function ensureDir(dir: string): void { mkdirSync(dir, { recursive: true }); }
