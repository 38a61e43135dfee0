// `selfsup dedup INDEX [--threshold T] [--json] [--csv FILE] [--sheet PNG]`:
// groups of byte-identical and near-duplicate images (src/search/dedup.ts).
import fs from 'node:fs';
import path from 'node:path';
import { findDuplicates, resolveThreshold, type DupGroup } from '../search/dedup.ts';
import { openIndex } from '../search/open.ts';
import { writeSheet } from '../search/sheet.ts';
import { UserError } from '../util/errors.ts';
import { chooseBackend, printJson, stderr } from './common.ts';
import { checkOutFile } from './out-path.ts';
import { imageFile } from './search.ts';

export interface DedupCliOptions {
  threshold?: number;
  k?: number;
  exact?: boolean;
  json?: boolean;
  csv?: string;
  sheet?: string;
  db?: string;
  backend: string;
}

export interface DedupOutput {
  threshold: number;
  threshold_source: string;
  count: number;
  exact_groups: number;
  near_groups: number;
  groups: { kind: DupGroup['kind']; members: { id: string; similarity: number; identical: boolean }[] }[];
}

const MAX_SHEET_GROUPS = 60;
const MAX_SHEET_MEMBERS = 12;

export async function dedupSubcommand(dir: string, o: DedupCliOptions): Promise<DedupOutput> {
  if (o.threshold !== undefined && !(o.threshold > -1 && o.threshold <= 1)) throw new UserError(`--threshold: expected a cosine similarity in (-1, 1], got ${o.threshold}`);
  if (o.k !== undefined && !(Number.isInteger(o.k) && o.k >= 1)) throw new UserError(`--k: expected a positive integer, got ${o.k}`);
  if (o.csv) checkOutFile('--csv', o.csv);
  if (o.sheet) checkOutFile('--sheet', o.sheet, { ext: '.png' });
  await chooseBackend(o.backend, undefined, o.json ? undefined : stderr);
  const index = await openIndex(dir, { exact: o.exact, db: o.db });
  try {
    const { threshold, source } = resolveThreshold(index, o.threshold);
    stderr(`dedup: threshold ${threshold} (cosine) from ${source}`);
    const { groups } = await findDuplicates(index, { threshold, k: o.k, exact: o.exact });
    const out: DedupOutput = {
      threshold, threshold_source: source, count: index.count,
      exact_groups: groups.filter((g) => g.kind === 'exact').length,
      near_groups: groups.filter((g) => g.kind === 'near').length,
      groups: groups.map((g) => ({ kind: g.kind, members: g.members.map((m) => ({ id: m.id, similarity: m.similarity, identical: m.identical })) })),
    };
    if (o.csv) writeCsv(o.csv, out);
    if (o.sheet) {
      const shown = out.groups.slice(0, MAX_SHEET_GROUPS);
      await writeSheet(o.sheet, shown.map((g, gi) => g.members.slice(0, MAX_SHEET_MEMBERS).map((m, i) => ({
        file: imageFile(index.manifest, m.id),
        caption: [i === 0 ? `#${gi + 1} ${g.kind}` : `${m.similarity.toFixed(5)}${m.identical ? ' =' : ''}`, m.id],
      }))), { title: `selfsup dedup: ${out.groups.length} groups at cosine >= ${threshold}${out.groups.length > shown.length ? ` (first ${shown.length} shown)` : ''}` });
    }
    const say = o.json ? stderr : (l: string) => process.stdout.write(`${l}\n`);
    say(`${out.groups.length} duplicate groups among ${out.count} images (${out.exact_groups} byte-identical, ${out.near_groups} near) at cosine >= ${threshold} (${source})`);
    if (!o.json) {
      out.groups.forEach((g, gi) => {
        say(`group ${gi + 1} (${g.kind}):`);
        g.members.forEach((m, i) => say(`  ${m.similarity.toFixed(5)}${i > 0 && m.identical ? ' (identical bytes)' : ''}  ${m.id}`));
      });
    }
    if (o.csv) say(`csv: ${path.resolve(o.csv)}`);
    if (o.sheet) say(`sheet: ${path.resolve(o.sheet)}`);
    if (o.json) printJson(out);
    return out;
  } finally {
    await index.close();
  }
}

function writeCsv(file: string, out: DedupOutput): void {
  const q = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const lines = ['group,kind,id,similarity,identical'];
  out.groups.forEach((g, gi) => {
    for (const m of g.members) lines.push(`${gi + 1},${g.kind},${q(m.id)},${m.similarity},${m.identical}`);
  });
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, lines.join('\n') + '\n');
}
