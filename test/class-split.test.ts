// The open-world class split: pretraining sees only the training classes, both
// evaluation splits only the unseen ones (asserted over every label), by name
// across splits, with exclude_classes, and bad input named with the valid classes.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compareClassNames, resolveClassSplit } from '../src/data/class-split.ts';
import { closeSplits, openSplits } from '../src/data/index.ts';
import { Loader } from '../src/data/loader.ts';
import { samplerOption } from '../src/data/sampler.ts';
import type { Dataset } from '../src/data/types.ts';
import { loadRecipe } from '../src/recipe/index.ts';
import { UserError } from '../src/util/errors.ts';
import { dataConfig, tempDir, writeImage } from './data-fixtures.ts';

const dirs: string[] = [];
afterAll(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });

const digits = Array.from({ length: 10 }, (_, d) => String(d));
const namesOf = (d: Dataset) => new Set(Array.from(d.labels!, (l) => d.classNames?.[l] ?? String(l)));

async function mnist(sets: string[]) {
  const lines: string[] = [];
  const r = loadRecipe(undefined, ['data.limit_train=300', 'data.limit_test=120', ...sets]);
  const s = await openSplits(r.data, { seed: 0, cacheDir: '/tmp', log: (m) => { lines.push(m); } });
  return { s, lines, r };
}

describe('resolveClassSplit', () => {
  it('natural order: numbers numerically first, then names', () => {
    expect(['b', '10', 'a', '2', '1', 'B', '02'].sort(compareClassNames)).toEqual(['1', '02', '2', '10', 'B', 'a', 'b']);
  });

  it('half: the first floor(n/2) names train, the rest evaluate', () => {
    expect(resolveClassSplit('half', [...digits].reverse())).toEqual({ train: ['0', '1', '2', '3', '4'], eval: ['5', '6', '7', '8', '9'] });
    expect(resolveClassSplit('half', ['10', '9', '100', '8', '11'])).toEqual({ train: ['8', '9'], eval: ['10', '11', '100'] });
    expect(resolveClassSplit('none', digits)).toBeUndefined();
  });

  it('a list names the training classes, numbers or strings', () => {
    expect(resolveClassSplit([7, '3', 1], digits)).toEqual({ train: ['1', '3', '7'], eval: ['0', '2', '4', '5', '6', '8', '9'] });
  });

  it('bad input names data.class_split and the valid classes', () => {
    const err = (spec: Parameters<typeof resolveClassSplit>[0], names: string[]) => {
      try { resolveClassSplit(spec, names); } catch (e) { expect(e).toBeInstanceOf(UserError); return (e as Error).message; }
      throw new Error('no error');
    };
    expect(err(['cat', 3, 'dog'], digits)).toBe("data.class_split: 'cat', 'dog' are not classes; valid class names: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9");
    expect(err([], digits)).toMatch(/^data\.class_split: no class left for training/);
    expect(err(digits.slice(0, 9), digits)).toMatch(/^data\.class_split: leaves 1 class for evaluation \(9\); at least 2 are needed, so train on at most 8 of 0, 1/);
    expect(resolveClassSplit('half', ['c', 'a', 'b'])).toEqual({ train: ['a'], eval: ['b', 'c'] });
    expect(err('half', ['a', 'b'])).toMatch(/leaves 1 class for evaluation \(b\)/);
  });
});

describe('data.class_split on the embedded MNIST digits', () => {
  it('half: pretraining only 0-4, both evaluation splits only 5-9, the same items as without a split', async () => {
    const { s, lines } = await mnist(['data.class_split=half']);
    const { s: plain } = await mnist([]);
    expect(s.classSplit).toEqual({ train: ['0', '1', '2', '3', '4'], eval: ['5', '6', '7', '8', '9'] });
    for (const l of s.pretrain.labels!) expect(l).toBeLessThan(5);
    for (const d of [s.evalTrain!, s.evalTest!]) for (const l of d.labels!) expect(l).toBeGreaterThanOrEqual(5);
    expect(namesOf(s.pretrain)).toEqual(new Set(['0', '1', '2', '3', '4']));
    expect(namesOf(s.evalTest!)).toEqual(new Set(['5', '6', '7', '8', '9']));
    // The limits pick the same items; the split only filters them (labels unchanged, pixels the same).
    const want = (d: Dataset, keep: (l: number) => boolean) => Array.from(d.labels!).filter(keep);
    expect(Array.from(s.pretrain.labels!)).toEqual(want(plain.pretrain, (l) => l < 5));
    expect(Array.from(s.evalTest!.labels!)).toEqual(want(plain.evalTest!, (l) => l >= 5));
    const j = Array.from(plain.evalTest!.labels!).findIndex((l) => l >= 5);
    expect(Buffer.from((await s.evalTest!.read([0])).data).equals(Buffer.from((await plain.evalTest!.read([j])).data))).toBe(true);
    expect(lines.join('\n')).toMatch(/pretrain mnist:train:seen-classes \(\d+, 5 classes\).*class_split train \[0, 1, 2, 3, 4\] \/ eval \(unseen\) \[5, 6, 7, 8, 9\]/);
    expect(plain.classSplit).toBeUndefined();
  });

  it('a list, with exclude_classes applied as well', async () => {
    const { s } = await mnist(['data.class_split=[1, "2", 3, 8]', 'data.exclude_classes=[2]']);
    expect(namesOf(s.pretrain)).toEqual(new Set(['1', '3', '8']));
    for (const d of [s.evalTrain!, s.evalTest!]) expect(namesOf(d)).toEqual(new Set(['0', '4', '5', '6', '7', '9']));
  });

  it('feeds the m_per_class sampler: every batch holds training classes only', async () => {
    const { s } = await mnist(['data.class_split=half', 'data.sampler=m_per_class', 'data.m_per_class=4']);
    const loader = new Loader(s.pretrain, { batchSize: 16, dropLast: true, seed: 0, shuffle: true, sampler: samplerOption({ sampler: 'm_per_class', m_per_class: 4 }) });
    let n = 0;
    for await (const b of loader.epoch(0)) {
      expect(new Set(b.labels).size).toBe(4);
      for (const l of b.labels!) expect(l).toBeLessThan(5);
      n++;
    }
    expect(n).toBe(loader.batchesPerEpoch());
  });

  it('bad names and too few evaluation classes are user errors naming the key', async () => {
    await expect(mnist(['data.class_split=[3, ten]'])).rejects.toThrow(/^data\.class_split: 'ten' is not a class; valid class names: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9$/);
    await expect(mnist(['data.class_split=[0,1,2,3,4,5,6,7,8]'])).rejects.toThrow(/data\.class_split: leaves 1 class for evaluation/);
    await expect(mnist(['data.class_split=halves'])).rejects.toThrow(/data\.class_split.*"none", "half"/);
  });
});

describe('data.class_split on an image folder', () => {
  /** root/{train,val}/<class>/: val lacks 'ant', so its label numbers differ from train's. */
  async function folder(labelled: boolean) {
    const root = tempDir('csplit');
    dirs.push(root);
    const classes = ['ant', 'bee', 'cat', 'dog'];
    let i = 0;
    for (const c of classes) {
      for (let k = 0; k < 2; k++) await writeImage(path.join(root, 'train', labelled ? c : '', `${i++}.png`), i, 8, 8);
      if (c !== 'ant') await writeImage(path.join(root, 'val', labelled ? c : '', `${i++}.png`), i, 8, 8);
    }
    return root;
  }

  it('matches classes by name across splits; half of [ant, bee, cat, dog]', async () => {
    const root = await folder(true);
    const cfg = dataConfig({ source: 'folder', path: root, image_size: 8, channels: 3, class_split: 'half', cache: path.join(root, '.cache') });
    const s = await openSplits(cfg, { seed: 0, cacheDir: '', log: () => {} });
    expect(s.classSplit).toEqual({ train: ['ant', 'bee'], eval: ['cat', 'dog'] });
    expect(namesOf(s.pretrain)).toEqual(new Set(['ant', 'bee']));
    expect(s.pretrain.n).toBe(4);
    expect(namesOf(s.evalTrain!)).toEqual(new Set(['cat', 'dog']));
    expect(namesOf(s.evalTest!)).toEqual(new Set(['cat', 'dog']));
    expect(Array.from(s.evalTest!.labels!)).toEqual([1, 2]); // val's own numbering (bee 0, cat 1, dog 2), unchanged
    closeSplits(s);
  });

  it('a split without labels is a user error', async () => {
    const root = await folder(false);
    const cfg = dataConfig({ source: 'folder', path: root, image_size: 8, channels: 3, class_split: 'half', eval_train: 'none', eval_test: 'none', cache: path.join(root, '.cache') });
    await expect(openSplits(cfg, { seed: 0, cacheDir: '', log: () => {} })).rejects.toThrow(/^data\.class_split: the pretraining split 'train' .* has no labels/);
  });
});
