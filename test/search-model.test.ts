// selfsup embed --model DIR: an exported TF.js backbone folder embeds exactly as
// the checkpoint it came from (same vectors, same fingerprint), its transform
// equals the recipe's eval transform, indexes built either way are searched
// with queries from either, and old or damaged exports are refused by name.
import * as tf from '@tensorflow/tfjs';
import { cpSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { backboneFromCheckpoint, recipeForCheckpoint } from '../src/cli/export.ts';
import { exportBackbone, MODEL_JSON, WEIGHTS_FILE } from '../src/export/backbone.ts';
import { recipePreprocessing } from '../src/export/preprocessing.ts';
import { disposeModule } from '../src/models/module.ts';
import type { Recipe } from '../src/recipe/index.ts';
import { embedImages } from '../src/search/embed.ts';
import { normalizeTransform } from '../src/search/exported.ts';
import { readManifest } from '../src/search/manifest.ts';
import { decodeFiles, indexEmbedder, loadEmbedder } from '../src/search/model.ts';
import { openIndex } from '../src/search/open.ts';
import { buildAugmenter } from '../src/train/augmenter.ts';
import { loadCheckpoint } from '../src/train/checkpoint.ts';
import { UserError } from '../src/util/errors.ts';
import { Rng } from '../src/util/rng.ts';
import { lastJson, name, pictureFolder, selfsup, tempDir, tinyCheckpoint, TINY_SETS } from './search-fixtures.ts';

const quiet = { quiet: true, log: () => {} };
// Per-channel statistics unlike the defaults, so a transform that ignored them would show.
const SETS = [...TINY_SETS, 'augment.mean=[0.4,0.45,0.5]', 'augment.std=[0.2,0.25,0.3]'];

describe('selfsup embed --model', () => {
  let run: string;
  let fingerprint: string;
  let recipe: Recipe;
  let modelDir: string;
  let images: string;
  let ckIndex: string;
  let mdIndex: string;

  beforeAll(async () => {
    await tf.setBackend('cpu');
    ({ run, fingerprint } = await tinyCheckpoint('search-model', SETS));
    const ck = loadCheckpoint(run);
    recipe = recipeForCheckpoint(ck, undefined, []);
    const backbone = backboneFromCheckpoint(ck, recipe);
    modelDir = join(tempDir('selfsup-model-'), 'backbone');
    const size = recipe.data.image_size;
    await exportBackbone(backbone, modelDir, {
      inputShape: [size, size, recipe.data.channels], preprocessing: recipePreprocessing(recipe),
      metadata: { source: { checkpoint: ck.path, step: ck.meta.step, method: ck.meta.method, recipe: recipe.name } },
    });
    disposeModule(backbone);
    images = await pictureFolder(8, 'selfsup-model-img-');
    const root = tempDir('selfsup-model-idx-');
    ckIndex = join(root, 'ck');
    mdIndex = join(root, 'md');
    await embedImages({ checkpoint: run, images, out: ckIndex, engine: 'exact', ...quiet });
    await embedImages({ model: modelDir, images, out: mdIndex, ...quiet });
  });

  it('its (x/255 - mean) / std transform equals the recipe eval transform on a batch', () => {
    const p = recipePreprocessing(recipe);
    expect(p.mean).not.toEqual(p.std);
    const rng = new Rng('transform-batch');
    const n = 3;
    const data = Uint8Array.from({ length: n * 32 * 32 * 3 }, () => rng.int(256));
    const batch = { data, n, height: 32, width: 32, channels: 3 };
    const before = tf.memory().numTensors;
    const got = normalizeTransform(p)(batch);
    const want = buildAugmenter(recipe, 3).evalTransform(batch);
    const g = got.dataSync();
    const w = want.dataSync();
    expect(got.shape).toEqual(want.shape);
    let worst = 0;
    for (let i = 0; i < g.length; i++) worst = Math.max(worst, Math.abs(g[i] - w[i]));
    expect(worst).toBeLessThan(1e-6);
    // And both equal the formula in float64 on a hand-picked element (pixel 5, channel 2).
    const i = 5 * 3 + 2;
    expect(g[i]).toBeCloseTo((data[i] / 255 - p.mean[2]) / p.std[2], 5);
    tf.dispose([got, want]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('embeds the same vectors with the same fingerprint and preprocessing as --checkpoint', async () => {
    const a = readManifest(ckIndex);
    const b = readManifest(mdIndex);
    expect(b.model.fingerprint).toBe(fingerprint);
    expect(a.model.fingerprint).toBe(fingerprint);
    expect(b.model.model_dir).toBe(modelDir);
    expect(b.model.checkpoint).toBe(a.model.checkpoint);
    expect(b.model).toMatchObject({ step: a.model.step, method: a.model.method, recipe: a.model.recipe });
    expect(b.preprocessing).toEqual(a.preprocessing);
    const ia = await openIndex(ckIndex, { exact: true });
    const ib = await openIndex(mdIndex, { exact: true });
    expect(ib.ids.map((e) => e.id)).toEqual(ia.ids.map((e) => e.id));
    let worst = 0;
    for (let j = 0; j < ia.vectors.length; j++) worst = Math.max(worst, Math.abs(ia.vectors[j] - ib.vectors[j]));
    expect(worst).toBeLessThan(1e-6);
    // The model embedder has no recipe; the checkpoint one has.
    const e = loadEmbedder({ model: modelDir });
    expect(e.recipe).toBeUndefined();
    e.dispose();
  });

  it('a --model index is searched with its exported folder, and either index with queries from the other model', async () => {
    const files = [0, 3, 6].map((i) => join(images, name(i)));
    for (const [dir, given, from] of [
      [mdIndex, {}, modelDir], [mdIndex, { checkpoint: run }, undefined], [ckIndex, { model: modelDir }, modelDir],
    ] as const) {
      const index = await openIndex(dir);
      const before = tf.memory().numTensors;
      const e = indexEmbedder(index.manifest, given);
      expect(e.model.model_dir).toBe(from);
      const d = await decodeFiles(files, index.manifest.preprocessing);
      const q = await e.embed(d.batch!);
      e.dispose();
      expect(tf.memory().numTensors).toBe(before);
      const hits = await index.search(q, 2);
      expect(hits.map((h) => h[0].id)).toEqual([name(0), name(3), name(6)]);
      for (const h of hits) expect(h[0].score).toBeGreaterThan(1 - 1e-5);
      await index.close();
    }
  });

  it('the CLI searches a --checkpoint index with --model (and the --model index with no model flag)', () => {
    const q = join(images, name(2));
    for (const args of [[ckIndex, '--model', modelDir], [mdIndex]]) {
      const r = selfsup('search', ...args, '--image', q, '-k', '1', '--json', '--backend', 'cpu');
      expect(r.err).not.toMatch(/Error/);
      expect(r.code).toBe(0);
      const out = lastJson(r.out) as { queries: { neighbors: { id: string }[] }[] };
      expect(out.queries[0].neighbors[0].id).toBe(name(2));
    }
  }, 60_000);

  it('recipe data with --model: the RECIPE gives the split seed, so the items equal a --checkpoint build of the same index', async () => {
    const out = join(tempDir('selfsup-model-idx-'), 'mnist');
    const r = join(tempDir('selfsup-model-recipe-'), 'r.yaml');
    writeFileSync(r, 'data:\n  source: mnist\n  limit_train: 12\n  limit_test: 6\n');
    expect((await embedImages({ checkpoint: run, recipe: r, out, engine: 'exact', ...quiet })).count).toBe(18);
    // Same fingerprint, same items and pixel hashes: nothing to re-embed.
    expect(await embedImages({ model: modelDir, recipe: r, out, engine: 'exact', ...quiet })).toMatchObject({ added: 0, removed: 0, unchanged: 18 });
  });

  it('falls back to the recorded checkpoint when the exported folder is gone', async () => {
    const moved = `${modelDir}-moved`;
    renameSync(modelDir, moved);
    try {
      const e = indexEmbedder(readManifest(mdIndex));
      expect(e.model.model_dir).toBeUndefined();
      expect(e.model.fingerprint).toBe(fingerprint);
      e.dispose();
    } finally {
      renameSync(moved, modelDir);
    }
  });

  it('refuses old, incomplete or damaged exports with a one-line UserError naming model.json', () => {
    const variant = (label: string, edit: (mj: Record<string, any>) => void, shard?: (b: Buffer) => void): string => {
      const dir = join(tempDir(`selfsup-model-${label}-`), 'm');
      cpSync(modelDir, dir, { recursive: true });
      const file = join(dir, MODEL_JSON);
      const mj = JSON.parse(readFileSync(file, 'utf8'));
      edit(mj);
      writeFileSync(file, JSON.stringify(mj));
      if (shard) {
        const b = readFileSync(join(dir, WEIGHTS_FILE));
        shard(b);
        writeFileSync(join(dir, WEIGHTS_FILE), b);
      }
      return dir;
    };
    const cases: [string, RegExp][] = [
      [variant('old', (mj) => { delete mj.userDefinedMetadata; }), /model\.json: no selfsup metadata .*re-export it with this version .*or embed with --checkpoint/],
      [variant('nopre', (mj) => { delete mj.userDefinedMetadata.selfsup.preprocessing; }), /model\.json: its selfsup metadata has no preprocessing .*re-export/],
      [variant('badfp', (mj) => { mj.userDefinedMetadata.selfsup.fingerprint = 'f'.repeat(64); }), /model\.json: the weights give fingerprint .*damaged or from another selfsup version/],
      [variant('flip', () => {}, (b) => { b[100] ^= 0x40; }), /model\.json: the weights give fingerprint .*damaged/],
      [variant('arch', (mj) => { mj.userDefinedMetadata.selfsup.backbone.widths = [8]; }), /does not fit this model/],
      [variant('chan', (mj) => { mj.userDefinedMetadata.selfsup.preprocessing.channels = 1; }), /model\.json: bad selfsup metadata \(preprocessing/],
      [join(images), /no model\.json in it/],
    ];
    const before = tf.memory().numTensors;
    for (const [dir, re] of cases) {
      let err: unknown;
      try {
        loadEmbedder({ model: dir }).dispose();
      } catch (e) {
        err = e;
      }
      expect(err, dir).toBeInstanceOf(UserError);
      expect((err as Error).message).toMatch(re);
      expect((err as Error).message).not.toContain('\n');
    }
    expect(tf.memory().numTensors).toBe(before);
    expect(() => loadEmbedder({ model: modelDir, checkpoint: run })).toThrow(/not both/);
  });
});
