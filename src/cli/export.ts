// `selfsup export --checkpoint PATH --out DIR [--format tfjs|embeddings]`:
// the checkpoint's backbone as a stock TF.js Layers model, or the embeddings
// of the recipe's evaluation splits (one folder per split) for downstream search.
import { join } from 'node:path';
import { backboneFromRecipe } from '../methods/index.ts';
import { applySet, loadRecipe, validateRecipe, type Recipe } from '../recipe/index.ts';
import { loadCheckpoint, restoreVariables, type LoadedCheckpoint } from '../train/checkpoint.ts';
import { exportBackbone } from '../export/backbone.ts';
import { exportEmbeddings } from '../export/embeddings.ts';
import { recipePreprocessing } from '../export/preprocessing.ts';
// Integration point: the same data and eval-transform builders the trainer uses.
import { openSplits } from '../data/index.ts';
import { buildAugmenter } from '../train/augmenter.ts';
import type { Backbone } from '../models/module.ts';
import { UserError } from '../util/errors.ts';
import { Rng } from '../util/rng.ts';
import { stderr } from './common.ts';
import { assertFiniteOutputs } from '../eval/finite-outputs.ts';

export type ExportFormat = 'tfjs' | 'embeddings';

export interface ExportCommandOptions {
  checkpoint: string;
  out: string;
  format: ExportFormat;
  /** A recipe file to use instead of the one saved in the checkpoint. */
  recipePath?: string;
  /** `key=value` overrides applied to the recipe. */
  sets: string[];
  /** Called with each line of output (default: stdout). */
  say?: (line: string) => void;
}

/** The recipe to rebuild the model with: a given file, else the checkpoint's own, with --set overrides either way. */
export function recipeForCheckpoint(ck: LoadedCheckpoint, recipePath: string | undefined, sets: string[]): Recipe {
  if (recipePath) return loadRecipe(recipePath, sets);
  if (!ck.meta.recipe || typeof ck.meta.recipe !== 'object') {
    throw new UserError(`${ck.path}: the checkpoint holds no recipe; pass the recipe file as an argument`);
  }
  const raw = structuredClone(ck.meta.recipe) as Parameters<typeof applySet>[0];
  for (const s of sets) applySet(raw, s);
  return validateRecipe(raw, `the recipe saved in ${ck.path}`);
}

/** The checkpoint's backbone, built from the recipe and filled with the saved weights and batch-norm statistics. */
export function backboneFromCheckpoint(ck: LoadedCheckpoint, recipe: Recipe): Backbone {
  // The seed is irrelevant: every variable is overwritten by the checkpoint.
  const backbone = backboneFromRecipe(recipe, new Rng('export'));
  restoreVariables(ck, [...backbone.params(), ...backbone.buffers()]);
  return backbone;
}

export async function exportCommand(opts: ExportCommandOptions): Promise<void> {
  const say = opts.say ?? ((l: string) => process.stdout.write(`${l}\n`));
  if (opts.format !== 'tfjs' && opts.format !== 'embeddings') {
    throw new UserError(`--format: '${String(opts.format)}' is not a format; valid: tfjs, embeddings`);
  }
  const ck = loadCheckpoint(opts.checkpoint);
  const recipe = recipeForCheckpoint(ck, opts.recipePath, opts.sets);
  const backbone = backboneFromCheckpoint(ck, recipe);
  const size = recipe.data.image_size;
  await assertFiniteOutputs(backbone, [size, size, recipe.data.channels], `checkpoint ${ck.path}`);
  const source = { checkpoint: ck.path, step: ck.meta.step, method: ck.meta.method, recipe: recipe.name };
  if (opts.format === 'tfjs') {
    const { files } = await exportBackbone(backbone, opts.out, {
      inputShape: [size, size, recipe.data.channels], preprocessing: recipePreprocessing(recipe), metadata: { source },
    });
    say(`backbone (feature dim ${backbone.featureDim}, input ${size}x${size}x${recipe.data.channels}) written:`);
    for (const f of files) say(`  ${f}`);
    return;
  }
  const splits = await openSplits(recipe.data, { seed: recipe.train.seed, cacheDir: join('checkpoints', '.cache'), log: stderr });
  const { evalTransform } = buildAugmenter(recipe, splits.pretrain.channels);
  const sets = [
    ['train', splits.evalTrain], ['test', splits.evalTest],
  ].filter((s): s is [string, NonNullable<typeof splits.evalTrain>] => s[1] !== undefined);
  // Unlabelled data has no eval splits; its pretraining images are still worth indexing.
  if (sets.length === 0) sets.push(['pretrain', splits.pretrain]);
  for (const [name, ds] of sets) {
    const dir = join(opts.out, name);
    const { index } = await exportEmbeddings(backbone, ds, dir, { transform: evalTransform, batchSize: recipe.eval.batch_size, metadata: { source, split: name } });
    say(`${name}: ${index.count} x ${index.dim} float32 embeddings${index.labels ? ' + labels' : ''} in ${dir}`);
  }
}
