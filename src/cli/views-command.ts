// `selfsup views`: picks the backend, then writes the grid (src/cli/views.ts).
import { chooseBackend, DEFAULT_RECIPE, stderr } from './common.ts';

export async function viewsSubcommand(
  recipePath: string | undefined, o: { out: string; set: string[]; n: number; seed?: number; backend: string },
): Promise<void> {
  await chooseBackend(o.backend, undefined, stderr);
  const { viewsCommand } = await import('./views.ts');
  await viewsCommand({ recipePath: recipePath ?? DEFAULT_RECIPE, out: o.out, sets: o.set, n: o.n, seed: o.seed });
}
