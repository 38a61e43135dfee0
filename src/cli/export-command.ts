// `selfsup export`: picks the backend, then exports (src/cli/export.ts).
import { chooseBackend, stderr } from './common.ts';

export async function exportSubcommand(
  recipePath: string | undefined,
  o: { checkpoint: string; out: string; format: 'tfjs' | 'embeddings'; set: string[]; backend: string },
): Promise<void> {
  await chooseBackend(o.backend, undefined, stderr);
  const { exportCommand } = await import('./export.ts');
  await exportCommand({ checkpoint: o.checkpoint, out: o.out, format: o.format, recipePath, sets: o.set });
}
