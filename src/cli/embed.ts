// `selfsup embed (--checkpoint PATH | --model DIR) (--images DIR | RECIPE) --out INDEX`:
// a thin layer over embedImages (src/search/embed.ts).
import { embedImages, type EmbedResult } from '../search/embed.ts';
import type { EngineName } from '../search/engine.ts';
import { StopSignal } from '../train/signals.ts';
import { UserError } from '../util/errors.ts';
import { chooseBackend, printJson, stderr } from './common.ts';
import { checkOutDir } from './out-path.ts';

export interface EmbedCliOptions {
  checkpoint?: string;
  model?: string;
  images?: string;
  out: string;
  engine: string;
  db?: string;
  table?: string;
  set: string[];
  batchSize?: number;
  connectivity?: number;
  expansionAdd?: number;
  expansionSearch?: number;
  indexThreads?: number;
  backend: string;
  threads?: number;
  json?: boolean;
  quiet?: boolean;
}

export async function embedSubcommand(recipe: string | undefined, o: EmbedCliOptions): Promise<EmbedResult> {
  if ((o.checkpoint === undefined) === (o.model === undefined)) throw new UserError('embed: give the model with --checkpoint PATH or --model DIR (one of them)');
  if (recipe !== undefined && o.images !== undefined) throw new UserError('embed: give either --images DIR or a RECIPE, not both');
  if (recipe === undefined && o.images === undefined) throw new UserError('embed: give the images with --images DIR or a RECIPE');
  checkOutDir('--out', o.out);
  await chooseBackend(o.backend, o.threads, stderr);
  const hnsw = Object.fromEntries(Object.entries({
    connectivity: o.connectivity, expansion_add: o.expansionAdd, expansion_search: o.expansionSearch,
  }).filter(([, v]) => v !== undefined).map(([k, v]) => {
    if (!(Number.isInteger(v) && v! >= 1)) throw new UserError(`--${k.replace('_', '-')}: expected a positive integer, got ${v}`);
    return [k, v];
  }));
  if (o.indexThreads !== undefined && !(Number.isInteger(o.indexThreads) && o.indexThreads >= 0)) {
    throw new UserError(`--index-threads: expected 0 (every core) or a positive integer, got ${o.indexThreads}`);
  }
  // Ctrl-C stops after the batch being embedded is committed, so the next run continues from it.
  const stop = new StopSignal();
  stop.install('committing the current batch and stopping');
  let r: EmbedResult;
  try {
    r = await embedImages({
      checkpoint: o.checkpoint, model: o.model, images: o.images, recipe, sets: o.set, out: o.out,
      engine: o.engine as EngineName, db: o.db, table: o.table, batchSize: o.batchSize, hnsw, indexThreads: o.indexThreads, quiet: o.quiet, log: stderr,
    });
  } finally {
    stop.uninstall();
  }
  const say = o.json ? stderr : (l: string) => process.stdout.write(`${l}\n`);
  say(`index ${r.index}: ${r.count} images x ${r.dim} dims (${r.engine}); added ${r.added}, removed ${r.removed}, unchanged ${r.unchanged}`
    + `${r.skipped.length ? `, skipped ${r.skipped.length} undecodable` : ''}; ${r.seconds.toFixed(1)} s`
    + `${r.added ? `, ${r.images_per_sec.toFixed(1)} img/s` : ''}`);
  if (o.json) printJson(r);
  return r;
}
