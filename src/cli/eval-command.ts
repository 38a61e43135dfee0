// `selfsup eval knn|linear|fewshot|retrieval|verify`: picks the backend, then runs the evaluation (src/cli/eval.ts).
import { chooseBackend, printJson, stderr } from './common.ts';
import type { EvalKind } from './eval.ts';

export async function evalSubcommand(
  kind: EvalKind, recipePath: string | undefined,
  o: { checkpoint: string; set: string[]; backend: string; threads?: number; out?: string; json?: boolean },
): Promise<void> {
  await chooseBackend(o.backend, o.threads, stderr);
  const { evalCommand } = await import('./eval.ts');
  const report = await evalCommand(kind, { checkpoint: o.checkpoint, recipePath, sets: o.set, json: !!o.json, out: o.out });
  if (o.json) printJson(report);
}
