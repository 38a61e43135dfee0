// `selfsup views [RECIPE] --out grid.png`: each of n pretraining images next to
// its two augmented views, so people can check the recipe does what they think.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PNG } from 'pngjs';
import { TwoViewAugmenter, resolveAugment } from '../../augment/index.ts';
import { composeGrid, viewCells, type Cell } from '../../augment/grid.ts';
import { closeSplits, openSplits } from '../data/index.ts';
import { UserError } from '../util/errors.ts';
import { Rng } from '../util/rng.ts';
import { resolveRecipe, stderr } from './common.ts';
import { checkOutFile } from './out-path.ts';

export interface ViewsOptions { recipePath?: string; out: string; sets: string[]; n?: number; seed?: number }

export async function viewsCommand(opts: ViewsOptions): Promise<void> {
  const n = opts.n ?? 16;
  if (!(Number.isInteger(n) && n >= 1 && n <= 1024)) throw new UserError(`--n: expected an integer in [1, 1024], got ${opts.n}`);
  checkOutFile('--out', opts.out, { ext: '.png' });
  const recipe = resolveRecipe(opts.recipePath, opts.sets, opts.seed);
  const seed = recipe.train.seed;
  const splits = await openSplits(recipe.data, { seed, cacheDir: join('checkpoints', '.cache'), log: stderr });
  try {
    const ds = splits.pretrain;
    const order = Int32Array.from({ length: ds.n }, (_, i) => i);
    new Rng(`views-pick:${seed}`).shuffle(order);
    const picks = order.slice(0, Math.min(n, ds.n));
    const batch = await ds.read(picks);
    const aug = new TwoViewAugmenter(resolveAugment(recipe.augment), { outSize: recipe.data.image_size, channels: recipe.data.channels });
    const { view1, view2 } = aug.views(batch, new Rng(`views:${seed}`));
    const v1 = await viewCells(view1, aug.mean, aug.std), v2 = await viewCells(view2, aug.mean, aug.std);
    view1.dispose();
    view2.dispose();
    const per = batch.height * batch.width * batch.channels;
    const originals: Cell[] = Array.from({ length: batch.n }, (_, i) => ({
      data: batch.data.subarray(i * per, (i + 1) * per), height: batch.height, width: batch.width, channels: batch.channels,
    }));
    const side = Math.max(batch.height, recipe.data.image_size);
    const grid = composeGrid(originals.map((o, i) => [o, v1[i], v2[i]]), {
      perRow: Math.max(1, Math.min(4, Math.ceil(Math.sqrt(batch.n)))),
      zoom: Math.max(1, Math.floor(96 / side)),
      gap: 2,
    });
    const png = new PNG({ width: grid.width, height: grid.height });
    grid.data.copy(png.data);
    mkdirSync(dirname(opts.out) || '.', { recursive: true });
    writeFileSync(opts.out, PNG.sync.write(png));
    stderr(`views: wrote ${opts.out} (${batch.n} images of ${ds.name}: original, view 1, view 2; preset ${recipe.augment.preset})`);
  } finally {
    closeSplits(splits);
  }
}
