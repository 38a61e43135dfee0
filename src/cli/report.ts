// `selfsup report RUN_DIR [--out report.html]`: writes the run's HTML report (src/report/run-report.ts).
import fs from 'node:fs';
import path from 'node:path';
import { buildRunReport } from '../report/run-report.ts';
import { stderr } from './common.ts';
import { checkOutFile } from './out-path.ts';

export async function reportSubcommand(runDir: string, o: { out?: string }): Promise<void> {
  const out = o.out ?? path.join(runDir, 'report.html');
  // Only when the run folder is one: buildRunReport names a folder that is not (missing, a file, no metrics.jsonl).
  if (o.out !== undefined || fs.existsSync(path.join(runDir, 'metrics.jsonl'))) checkOutFile('--out', out);
  const r = await buildRunReport(runDir, { log: stderr });
  fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
  fs.writeFileSync(out, r.html);
  for (const n of r.notes) stderr(`report: ${n}`);
  process.stdout.write(`report written to ${out} (${r.charts.length} charts${r.pictures.length ? `, ${r.pictures.length} pictures` : ''}, ${(r.html.length / 1024).toFixed(0)} KiB)\n`);
}
