// `selfsup export`: picks the backend, then exports (src/cli/export.ts, or src/export/site.ts for --format web).
import { UserError } from '../util/errors.ts';
import { chooseBackend, stderr } from './common.ts';
import { checkOutDir } from './out-path.ts';

export async function exportSubcommand(
  recipePath: string | undefined,
  o: {
    checkpoint: string; out: string; format: 'tfjs' | 'embeddings' | 'web'; set: string[]; backend: string;
    index?: string; vectors?: 'float16' | 'int8'; thumbSize?: number;
  },
): Promise<void> {
  if (o.thumbSize !== undefined && !(Number.isInteger(o.thumbSize) && o.thumbSize >= 8 && o.thumbSize <= 1024)) {
    throw new UserError(`--thumb-size: expected an integer number of pixels in [8, 1024], got ${o.thumbSize}`);
  }
  checkOutDir('--out', o.out);
  await chooseBackend(o.backend, undefined, stderr);
  if (o.format === 'web') {
    if (!o.index) throw new UserError('--format web: give the index the page searches with --index DIR (from selfsup embed)');
    if (recipePath || o.set.length > 0) throw new UserError('--format web: the site uses the checkpoint\'s own recipe; drop the RECIPE / --set arguments');
    const { exportWebSite } = await import('../export/site.ts');
    const r = await exportWebSite({ checkpoint: o.checkpoint, index: o.index, out: o.out, vectors: o.vectors, thumbSize: o.thumbSize, log: stderr });
    const mb = (b: number) => `${(b / 1e6).toFixed(2)} MB`;
    process.stdout.write(`site written to ${r.out}: ${r.count} images (${r.dim}-d ${r.dtype} vectors), model ${mb(r.bytes.model)}, `
      + `vectors ${mb(r.bytes.vectors)}, thumbnails ${mb(r.bytes.thumbs)}, page ${mb(r.bytes.page)}, total ${mb(r.bytes.total)}\n`
      + `view it with: npx selfsup serve ${o.out}\n`);
    return;
  }
  const { exportCommand } = await import('./export.ts');
  await exportCommand({ checkpoint: o.checkpoint, out: o.out, format: o.format, recipePath, sets: o.set });
}
