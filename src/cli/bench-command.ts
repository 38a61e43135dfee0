// `selfsup bench` / `npm run bench`: the benchmark suite in bench/.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PACKAGE_ROOT, printJson } from './common.ts';

export async function benchSubcommand(o: { json?: boolean; peer?: boolean; quick?: boolean; backends?: string }): Promise<void> {
  const mod = (await import(pathToFileURL(join(PACKAGE_ROOT, 'bench', 'index.ts')).href)) as {
    runBench(opts: { json: boolean; peer: boolean; backends?: string[]; quick?: boolean }): Promise<object>;
  };
  const res = await mod.runBench({ json: !!o.json, peer: !!o.peer, quick: !!o.quick, backends: o.backends?.split(',').map((s) => s.trim()) });
  if (o.json) printJson(res);
}
