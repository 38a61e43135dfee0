// `selfsup bench` / `npm run bench`: the benchmark suite in bench/.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PACKAGE_ROOT } from './common.ts';

export async function benchSubcommand(o: { json?: boolean; peer?: boolean; quick?: boolean; backends?: string; threads?: number; soak?: number; e2e?: boolean }): Promise<void> {
  const mod = (await import(pathToFileURL(join(PACKAGE_ROOT, 'bench', 'index.ts')).href)) as {
    runBench(opts: { json: boolean; peer: boolean; backends?: string[]; quick?: boolean; threads?: number; soak?: number; e2e?: boolean }): Promise<object>;
  };
  // runBench prints its own table, or the JSON object with --json.
  await mod.runBench({
    json: !!o.json, peer: !!o.peer, quick: !!o.quick, backends: o.backends?.split(',').map((s) => s.trim()), threads: o.threads, soak: o.soak, e2e: !!o.e2e,
  });
}
