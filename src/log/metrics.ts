// metrics.jsonl: one JSON object per line (step, epoch, loss, lr, knn...), appended
// as the run goes so a crash keeps everything logged so far.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';

export type MetricsRecord = { kind: string; step: number; epoch: number; time: string } & Record<string, unknown>;

export class MetricsLog {
  constructor(readonly path: string) {}
  write(kind: string, step: number, epoch: number, values: Record<string, unknown>): void {
    const rec: MetricsRecord = { kind, step, epoch, time: new Date().toISOString(), ...values };
    appendFileSync(this.path, JSON.stringify(rec) + '\n');
  }
}

/** Reads a metrics.jsonl back (skipping a torn last line). */
export function readMetrics(path: string): MetricsRecord[] {
  if (!existsSync(path)) return [];
  const out: MetricsRecord[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try { out.push(JSON.parse(line) as MetricsRecord); } catch { /* torn line from a crash */ }
  }
  return out;
}
