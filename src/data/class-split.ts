// The open-world class split (data.class_split): train on some classes, evaluate
// only on the others, as in Musgrave et al., "A Metric Learning Reality Check"
// (2020), so retrieval and k-NN numbers measure classes the model never saw.
//   none       no split
//   half       the first floor(n/2) class names in natural order train, the rest evaluate
//   [a, b, ..] these classes train, every other class evaluates
// Classes are matched by name (a dataset's classNames, else its label values as
// text), so splits whose label numbering differs (folder train/ vs val/) agree.
// Items keep their label values; only which items are present changes.
import { UserError } from '../util/errors.ts';
import type { Dataset, Splits } from './types.ts';
import { SubsetDataset } from './views.ts';

export type ClassSplitSpec = 'none' | 'half' | (string | number)[];

/** Class names on each side of the split. */
export interface ClassSplit { train: string[]; eval: string[] }

const KEY = 'data.class_split';

/** Natural order: names that are numbers first, numerically; then the rest in string (code unit) order. */
export function compareClassNames(a: string, b: string): number {
  const na = numeric(a);
  const nb = numeric(b);
  if (na !== undefined && nb !== undefined) return na - nb || (a < b ? -1 : a > b ? 1 : 0);
  if (na !== undefined) return -1;
  if (nb !== undefined) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function numeric(s: string): number | undefined {
  return /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s.trim()) ? Number(s) : undefined;
}

/** The name of each label of `ds` (classNames, else the label value as text). */
export function classNameOf(ds: Dataset, label: number): string {
  return ds.classNames?.[label] ?? String(label);
}

/** The classes of a labelled dataset by name: all of its classNames, else the label values present. */
export function classNamesOf(ds: Dataset): string[] | undefined {
  if (!ds.labels) return undefined;
  if (ds.classNames) return ds.classNames.slice();
  return [...new Set(ds.labels)].map(String);
}

/**
 * Which class names train and which evaluate, out of `names` (every class, any order).
 * Undefined for 'none'. Bad input is a UserError naming data.class_split and the valid names.
 */
export function resolveClassSplit(spec: ClassSplitSpec, names: string[]): ClassSplit | undefined {
  if (spec === 'none') return undefined;
  const sorted = [...new Set(names)].sort(compareClassNames);
  let train: string[];
  if (spec === 'half') {
    train = sorted.slice(0, Math.floor(sorted.length / 2));
  } else if (Array.isArray(spec)) {
    const known = new Set(sorted);
    const wanted = [...new Set(spec.map((s) => String(s).trim()))];
    const unknown = wanted.filter((s) => !known.has(s));
    if (unknown.length > 0) {
      throw new UserError(`${KEY}: ${unknown.map((s) => `'${s}'`).join(', ')} ${unknown.length === 1 ? 'is not a class' : 'are not classes'}; valid class names: ${listNames(sorted)}`);
    }
    train = sorted.filter((s) => wanted.includes(s));
  } else {
    throw new UserError(`${KEY}: ${JSON.stringify(spec)}: expected none, half, or a list of class names (${listNames(sorted)})`);
  }
  const trainSet = new Set(train);
  const evalNames = sorted.filter((s) => !trainSet.has(s));
  if (train.length === 0) throw new UserError(`${KEY}: no class left for training (${sorted.length} classes: ${listNames(sorted)}); name at least one`);
  if (evalNames.length < 2) {
    throw new UserError(`${KEY}: leaves ${evalNames.length} class${evalNames.length === 1 ? '' : 'es'} for evaluation (${listNames(evalNames) || 'none'}); at least 2 are needed, so train on at most ${sorted.length - 2} of ${listNames(sorted)}`);
  }
  return { train, eval: evalNames };
}

/**
 * The splits with pretraining restricted to the training classes and eval_train /
 * eval_test to the unseen ones. `pretrainSpec` names the pretraining split in messages.
 */
export function applyClassSplit(spec: ClassSplitSpec, s: Splits, pretrainSpec: string): Splits {
  if (spec === 'none') return s;
  const labelled = [s.pretrain, s.evalTrain, s.evalTest].filter((d): d is Dataset => !!d);
  if (!s.pretrain.labels) {
    throw new UserError(`${KEY}: the pretraining split '${pretrainSpec}' (${s.pretrain.name}) has no labels to split classes by; use a labelled data.pretrain or ${KEY}: none`);
  }
  const names = labelled.flatMap((d) => classNamesOf(d) ?? []);
  const split = resolveClassSplit(spec, names)!;
  const seen = new Set(split.train);
  const unseen = new Set(split.eval);
  const pretrain = keepClasses(s.pretrain, seen, 'seen', 'data.pretrain');
  const evalTrain = s.evalTrain && keepClasses(s.evalTrain, unseen, 'unseen', 'data.eval_train');
  const evalTest = s.evalTest && keepClasses(s.evalTest, unseen, 'unseen', 'data.eval_test');
  for (const [key, d] of [['data.eval_train', evalTrain], ['data.eval_test', evalTest]] as const) {
    const present = d ? new Set(d.labels).size : 2;
    if (present < 2) {
      throw new UserError(`${KEY}: ${key} (${d!.name}) holds ${present} of the evaluation classes (${listNames(split.eval)}); at least 2 are needed: raise data.limit_train / data.limit_test or evaluate on more classes`);
    }
  }
  return { ...s, pretrain, evalTrain, evalTest, classSplit: split };
}

/** One phrase for the run log. */
export function describeClassSplit(c: ClassSplit): string {
  return `class_split train [${listNames(c.train)}] / eval (unseen) [${listNames(c.eval)}]`;
}

function keepClasses(ds: Dataset, names: Set<string>, tag: string, key: string): Dataset {
  const labels = ds.labels!;
  const keep: number[] = [];
  for (let i = 0; i < labels.length; i++) if (names.has(classNameOf(ds, labels[i]))) keep.push(i);
  if (keep.length === 0) throw new UserError(`${KEY}: ${key} (${ds.name}) has no image of the ${tag} classes (${listNames([...names])})`);
  return new SubsetDataset(`${ds.name}:${tag}-classes`, ds, Int32Array.from(keep));
}

/** Names for a message, shortened when there are many. */
function listNames(names: string[]): string {
  const max = 30;
  return names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')}, ... (${names.length} in all)`;
}
