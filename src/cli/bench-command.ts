// `selfsup bench` / `npm run bench`: the benchmark suite in bench/.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BACKEND_NAMES } from '../backend/index.ts';
import { UserError } from '../util/errors.ts';
import { PACKAGE_ROOT } from './common.ts';

export async function benchSubcommand(o: { json?: boolean; peer?: boolean; quick?: boolean; backends?: string; threads?: number; soak?: number; e2e?: boolean }): Promise<void> {
  // Checked here: the suite would otherwise run for minutes, report an unknown backend as 'skipped' and exit 0.
  const names = BACKEND_NAMES.filter((b) => b !== 'auto');
  const backends = o.backends?.split(',').map((s) => s.trim());
  for (const b of backends ?? []) {
    if (!(names as readonly string[]).includes(b)) throw new UserError(`--backends: '${b}' is not a backend; valid: ${names.join(', ')} (comma-separated)`);
  }
  if (o.threads !== undefined && !(Number.isInteger(o.threads) && o.threads >= 1)) throw new UserError(`--threads: expected a positive integer, got ${o.threads}`);
  if (o.soak !== undefined && !(Number.isInteger(o.soak) && o.soak >= 1)) throw new UserError(`--soak: expected a positive number of steps, got ${o.soak}`);
  const mod = (await import(pathToFileURL(join(PACKAGE_ROOT, 'bench', 'index.ts')).href)) as {
    runBench(opts: { json: boolean; peer: boolean; backends?: string[]; quick?: boolean; threads?: number; soak?: number; e2e?: boolean }): Promise<object>;
  };
  // runBench prints its own table, or the JSON object with --json.
  await mod.runBench({
    json: !!o.json, peer: !!o.peer, quick: !!o.quick, backends, threads: o.threads, soak: o.soak, e2e: !!o.e2e,
  });
}
