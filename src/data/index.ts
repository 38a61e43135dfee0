// The single entry point to data: a recipe's `data` section becomes the three
// splits (pretrain, eval_train, eval_test) at the recipe's size and channels.
// See src/recipe/sections/data.ts for split names per source.
import fs from 'node:fs';
import path from 'node:path';
import type { DataConfig } from '../recipe/sections/data.ts';
import { UserError } from '../util/errors.ts';
import { Rng } from '../util/rng.ts';
import { openCachedFolder } from './cache.ts';
import { applyClassSplit, describeClassSplit } from './class-split.ts';
import { openCifar } from './cifar.ts';
import { folderSplit, listImages, type FolderSplit } from './folder.ts';
import { findIdxFiles, openIdxDataset } from './idx.ts';
import { loadEmbeddedMnist } from './mnist.ts';
import { openStl10, type Stl10Split } from './stl10.ts';
import { numClasses, type Dataset, type Splits } from './types.ts';
import { ConcatDataset, SubsetDataset, fitDataset } from './views.ts';

export type { Dataset, ImageBatch, Splits } from './types.ts';
export { Loader } from './loader.ts';

export interface OpenOptions {
  seed: number;
  /** Where image-folder decode caches go unless the recipe names `data.cache`. */
  cacheDir: string;
  log?: (msg: string) => void;
}

/** What each source provides: its split names, its 'auto' choices, and a way to open one split. */
interface Source {
  /** Valid split names; undefined = any subfolder (image folders). */
  names?: readonly string[];
  auto(): { pretrain: string; eval_train: string; eval_test: string };
  open(split: string): Promise<Dataset>;
  /** Native image shape in words, for a hint when the recipe kept the MNIST defaults (28, 1). */
  native?: string;
}

type Role = 'pretrain' | 'eval_train' | 'eval_test';
const ROLES: Role[] = ['pretrain', 'eval_train', 'eval_test'];

export async function openSplits(cfg: DataConfig, opts: OpenOptions): Promise<Splits> {
  const log = opts.log ?? ((m: string) => console.warn(m));
  const source = makeSource(cfg, opts, log);
  if (source.native && cfg.image_size === 28 && cfg.channels === 1) {
    log(`data: note: ${cfg.source} images are ${source.native}, but the recipe asks for 28x28 grayscale (the defaults); set data.image_size and data.channels to change that`);
  }
  const auto = source.auto();
  const spec = Object.fromEntries(ROLES.map((r) => {
    const v = cfg[r].trim();
    return [r, v === 'auto' ? auto[r] : v === 'none' ? '' : v];
  })) as Record<Role, string>;
  if (!spec.pretrain) throw new UserError(`data.pretrain: no split given; expected one of ${describeNames(source)}`);
  if (spec.eval_test && !spec.eval_train) throw new UserError(`data.eval_test: '${spec.eval_test}' needs data.eval_train (the labelled bank) as well`);

  // Open each named split once, even when several roles share it.
  const opened = new Map<string, Promise<Dataset>>();
  const openSpec = (role: Role, s: string): Promise<Dataset> => {
    let p = opened.get(s);
    if (!p) {
      p = openUnion(source, role, s).then((ds) => fitDataset(ds, cfg.image_size, cfg.image_size, cfg.channels));
      opened.set(s, p);
    }
    return p;
  };
  const all: Dataset[] = [];
  try {
    let pretrain = await openSpec('pretrain', spec.pretrain);
    all.push(pretrain);
    let evalTrain = spec.eval_train ? await openSpec('eval_train', spec.eval_train) : undefined;
    if (evalTrain) all.push(evalTrain);
    let evalTest: Dataset | undefined;
    if (evalTrain) requireLabels('eval_train', spec.eval_train, evalTrain);
    if (spec.eval_test === 'holdout') {
      const { train, test } = holdout(evalTrain!, cfg.test_fraction, opts.seed);
      // Keep held-out images out of pretraining when both use the same split.
      if (spec.pretrain === spec.eval_train) pretrain = train;
      evalTrain = train;
      evalTest = test;
    } else if (spec.eval_test) {
      evalTest = await openSpec('eval_test', spec.eval_test);
      all.push(evalTest);
      requireLabels('eval_test', spec.eval_test, evalTest);
    }
    if (cfg.source !== 'mnist') {
      // Limits pick the same seeded subset of a split whichever role uses it.
      pretrain = limit(pretrain, cfg.limit_train, opts.seed, spec.pretrain);
      if (evalTrain) evalTrain = limit(evalTrain, cfg.limit_train, opts.seed, spec.eval_train);
      if (evalTest) evalTest = limit(evalTest, cfg.limit_test, opts.seed, spec.eval_test);
    }
    // After the limits, so a limit picks the same items with or without a class split.
    const { classSplit, ...split } = applyClassSplit(cfg.class_split, { pretrain, evalTrain, evalTest }, spec.pretrain);
    ({ pretrain, evalTrain, evalTest } = split);
    if (cfg.exclude_classes.length > 0) pretrain = excludeClasses(pretrain, cfg.exclude_classes, spec.pretrain);
    const shape = `${cfg.image_size}x${cfg.image_size}x${cfg.channels}`;
    const classes = (d: Dataset) => (classSplit ? new Set(d.labels).size : numClasses(d));
    const say = (role: string, d?: Dataset) => d && `${role} ${d.name} (${d.n}${d.labels ? `, ${classes(d)} classes` : ''})`;
    const parts = [say('pretrain', pretrain), say('eval_train', evalTrain), say('eval_test', evalTest), classSplit && describeClassSplit(classSplit)];
    log(`data: ${parts.filter(Boolean).join('; ')}; images ${shape}`);
    return { pretrain, evalTrain, evalTest, ...(classSplit ? { classSplit } : {}) };
  } catch (e) {
    for (const d of all) d.close?.();
    throw e;
  }
}

/** The pretraining split without the items of `classes` (held out for few-shot evaluation). */
function excludeClasses(ds: Dataset, classes: number[], split: string): Dataset {
  if (!ds.labels) throw new UserError(`data.exclude_classes: the pretraining split '${split}' has no labels to exclude by`);
  const drop = new Set(classes);
  const keep = Int32Array.from(Array.from(ds.labels.keys()).filter((i) => !drop.has(ds.labels![i])));
  if (keep.length === 0) throw new UserError(`data.exclude_classes: [${classes}] removes every image of '${split}'`);
  return new SubsetDataset(`${ds.name}-without[${classes}]`, ds, keep);
}

/** Closes the files behind the splits (each once). */
export function closeSplits(s: Splits): void {
  for (const d of new Set([s.pretrain, s.evalTrain, s.evalTest])) d?.close?.();
}

function makeSource(cfg: DataConfig, opts: OpenOptions, log: (m: string) => void): Source {
  const std = { pretrain: 'train', eval_train: 'train', eval_test: 'test' };
  if (cfg.source === 'mnist') {
    let cached: ReturnType<typeof loadEmbeddedMnist> | undefined;
    const get = () => (cached ??= loadEmbeddedMnist({
      testFraction: cfg.test_fraction, seed: opts.seed, limitTrain: cfg.limit_train || undefined, limitTest: cfg.limit_test || undefined,
    }));
    return { names: ['train', 'test'], auto: () => std, open: async (s) => get()[s as 'train' | 'test'] };
  }
  const dir = requirePath(cfg);
  switch (cfg.source) {
    case 'idx': {
      const files = findIdxFiles(dir);
      return {
        names: ['train', 'test'], auto: () => std,
        open: async (s) => {
          const f = files[s as 'train' | 'test'];
          if (!f.images) throw new UserError(`data.path: no ${s} images IDX file in ${dir}; expected ${s === 'train' ? 'train' : 't10k'}-images-idx3-ubyte[.gz]`);
          return openIdxDataset(`idx:${s}`, f.images, f.labels);
        },
      };
    }
    case 'cifar10':
    case 'cifar100':
      return {
        names: ['train', 'test'], auto: () => std, native: '32x32 RGB',
        open: async (s) => openCifar(cfg.source as 'cifar10' | 'cifar100', dir, s as 'train' | 'test', cfg.label_mode),
      };
    case 'stl10':
      return {
        names: ['train', 'test', 'unlabeled'], native: '96x96 RGB',
        auto: () => ({ pretrain: 'train+unlabeled', eval_train: 'train', eval_test: 'test' }),
        open: async (s) => openStl10(dir, s as Stl10Split),
      };
    case 'folder':
      return folderSource(cfg, dir, opts, log);
  }
}

function folderSource(cfg: DataConfig, dir: string, opts: OpenOptions, log: (m: string) => void): Source {
  const rels = listImages(dir, { files: cfg.files, glob: cfg.glob || undefined });
  // Listing a split stats every file; do it once per split.
  const splits = new Map<string, FolderSplit>();
  const split = (s: string, role: string) => {
    if (!splits.has(s)) splits.set(s, folderSplit(dir, s, rels, cfg.labels, `data.${role}`));
    return splits.get(s)!;
  };
  const hasImages = (sub: string) => rels.some((r) => r.startsWith(`${sub}/`));
  return {
    native: 'usually RGB photos',
    auto: () => {
      if (hasImages('train')) {
        const test = ['val', 'test'].find(hasImages);
        return { pretrain: 'train', eval_train: 'train', eval_test: test ?? (split('train', 'eval_train').classNames ? 'holdout' : '') };
      }
      const labelled = !!split('.', 'pretrain').classNames;
      return { pretrain: '.', eval_train: labelled ? '.' : '', eval_test: labelled ? 'holdout' : '' };
    },
    open: async (s) => openCachedFolder(`folder:${path.join(path.basename(dir), s)}`, split(s, 'split'), {
      cacheDir: cfg.cache || opts.cacheDir, size: cfg.image_size, channels: cfg.channels, strict: cfg.strict, log,
    }),
  };
}

async function openUnion(source: Source, role: Role, spec: string): Promise<Dataset> {
  const names = spec.split('+').map((s) => s.trim());
  for (const n of names) {
    if (n === 'holdout') throw new UserError(`data.${role}: 'holdout' is only valid for data.eval_test`);
    if (source.names && !source.names.includes(n)) {
      throw new UserError(`data.${role}: unknown split '${n}'; expected ${describeNames(source)}`);
    }
  }
  const parts: Dataset[] = [];
  try {
    for (const n of names) parts.push(await source.open(n));
  } catch (e) {
    for (const p of parts) p.close?.();
    throw e;
  }
  return parts.length === 1 ? parts[0] : new ConcatDataset(spec, parts);
}

function requireLabels(role: Role, spec: string, ds: Dataset): void {
  if (!ds.labels) throw new UserError(`data.${role}: split '${spec}' has no labels; evaluation needs a labelled split (or set data.${role}: none)`);
}

/** A stratified, seeded split of a labelled dataset into (1 - fraction, fraction). */
function holdout(ds: Dataset, fraction: number, seed: number): { train: Dataset; test: Dataset } {
  const rng = new Rng(`holdout:${seed}`);
  const byClass = new Map<number, number[]>();
  ds.labels!.forEach((l, i) => { if (!byClass.has(l)) byClass.set(l, []); byClass.get(l)!.push(i); });
  const train: number[] = [];
  const test: number[] = [];
  for (const l of [...byClass.keys()].sort((a, b) => a - b)) {
    const idx = rng.shuffle(byClass.get(l)!) as number[];
    const nTest = Math.round(idx.length * fraction);
    idx.forEach((i, k) => (k < nTest ? test : train).push(i));
  }
  if (train.length === 0 || test.length === 0) {
    throw new UserError(`data.eval_test: holdout of ${ds.name} (${ds.n} images, test_fraction ${fraction}) leaves an empty side; use more images or another test_fraction`);
  }
  const sorted = (a: number[]) => Int32Array.from(a).sort();
  return { train: new SubsetDataset(`${ds.name}:holdout-train`, ds, sorted(train)), test: new SubsetDataset(`${ds.name}:holdout-test`, ds, sorted(test)) };
}

function limit(ds: Dataset, max: number, seed: number, spec: string): Dataset {
  if (!max || ds.n <= max) return ds;
  const order = new Rng(`limit:${seed}:${spec}`).shuffle(Int32Array.from({ length: ds.n }, (_, i) => i)) as Int32Array;
  return new SubsetDataset(`${ds.name}[:${max}]`, ds, order.slice(0, max).sort());
}

function requirePath(cfg: DataConfig): string {
  if (!cfg.path) throw new UserError(`data.path: required for source ${cfg.source}; expected the folder holding its files`);
  const dir = path.resolve(cfg.path);
  if (!fs.existsSync(dir)) throw new UserError(`data.path: ${dir} does not exist`);
  return dir;
}

function describeNames(source: Source): string {
  return source.names ? `${source.names.join(', ')} (join with +)` : 'a subfolder of data.path, or . for data.path itself';
}
