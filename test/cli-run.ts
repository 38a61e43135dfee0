// Running the `selfsup` command from a test: in this process through main() (the exit
// code and output the command would give, without a second's start-up per case) or as
// a real child process; and a diverged checkpoint to feed it. Shared by the
// cli-mistakes tests.
import * as tf from '@tensorflow/tfjs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { vi } from 'vitest';
import { DEFAULT_RECIPE } from '../src/cli/common.ts';
import { main } from '../src/cli/main.ts';
import { backboneFromRecipe } from '../src/methods/index.ts';
import { disposeModule } from '../src/models/module.ts';
import { loadRecipe } from '../src/recipe/index.ts';
import { saveCheckpoint } from '../src/train/checkpoint.ts';
import { Rng } from '../src/util/rng.ts';
import { TINY_SETS, tempDir } from './search-fixtures.ts';

export type Run = { code: number | null; out: string; err: string };

/** A stack-trace line: never in what a user's mistake prints. */
export const STACK = /\n\s+at .*:\d+/;

/** main() in this process, with what it writes captured. */
export async function cli(...args: string[]): Promise<Run> {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => { out += String(s); return true; });
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => { err += String(s); return true; });
  try {
    return { code: await main(args), out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

/** The real command in a child process, with extra environment variables (killed after 60 s: some mistakes used to hang). */
export function spawned(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/selfsup.js', ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000, env: { ...process.env, ...env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

/** A run folder whose weights are finite but whose activations overflow float32 (as after one huge lr step). */
export async function divergedCheckpoint(prefix: string): Promise<string> {
  const run = tempDir(prefix);
  const recipe = loadRecipe(DEFAULT_RECIPE, TINY_SETS);
  const bb = backboneFromRecipe(recipe, new Rng('diverged'));
  // Three convolutions, each x1e20: the features reach 1e60 and overflow; every weight stays finite.
  for (const p of bb.params()) if (p.variable.shape.length === 4) p.variable.assign(tf.tidy(() => tf.mul(p.variable, 1e20)));
  await saveCheckpoint(join(run, 'ckpt'), { step: 1, epoch: 0, batchInEpoch: 0, method: 'simclr', recipe }, [
    ...bb.params().map((p) => ({ name: p.name, group: 'param' as const, tensor: p.variable })),
    ...bb.buffers().map((p) => ({ name: p.name, group: 'state' as const, tensor: p.variable })),
  ], 1);
  disposeModule(bb);
  return run;
}
