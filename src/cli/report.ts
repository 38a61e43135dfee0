// `selfsup report RUN_DIR [--out report.html]`: writes the run's HTML report (src/report/run-report.ts).
import fs from 'node:fs';
import path from 'node:path';
import { buildRunReport } from '../report/run-report.ts';
import { stderr } from './common.ts';

export async function reportSubcommand(runDir: string, o: { out?: string }): Promise<void> {
  const r = await buildRunReport(runDir, { log: stderr });
  const out = o.out ?? path.join(runDir, 'report.html');
  fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
  fs.writeFileSync(out, r.html);
  for (const n of r.notes) stderr(`report: ${n}`);
  process.stdout.write(`report written to ${out} (${r.charts.length} charts${r.pictures.length ? `, ${r.pictures.length} pictures` : ''}, ${(r.html.length / 1024).toFixed(0)} KiB)\n`);
}
