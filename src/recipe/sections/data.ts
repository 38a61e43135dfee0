// Recipe section `data`: where the images come from, their size, and which
// split fills each role (pretraining, k-NN / linear-probe bank, held-out test).
//
// Split names per source (`a+b` joins splits, '' or 'none' leaves a role empty,
// 'holdout' for eval_test holds out test_fraction of eval_train, stratified):
//   mnist     train, test        (the embedded 10k digits, split by test_fraction)
//   idx       train, test        (train-*-idx?-ubyte[.gz], t10k-*-idx?-ubyte[.gz] in `path`)
//   cifar10   train, test        (data_batch_*.bin, test_batch.bin in `path`)
//   cifar100  train, test        (train.bin, test.bin; labels per `label_mode`)
//   stl10     train, test, unlabeled  (the stl10_binary files in `path`)
//   folder    a subfolder of `path` ('.' = `path` itself); class subfolders give labels
// 'auto' picks: pretrain = train (stl10: train+unlabeled; folder: train/ if present,
// else '.'), eval_train = train, eval_test = test (folder: val/ or test/ if present,
// else holdout when labelled, none when not).
export type DataSource = 'mnist' | 'idx' | 'cifar10' | 'cifar100' | 'stl10' | 'folder';

export interface DataConfig {
  source: DataSource;
  /** Folder holding the source's files (not used by mnist). */
  path: string;
  image_size: number;
  channels: 1 | 3;
  test_fraction: number;
  limit_train: number;
  limit_test: number;
  pretrain: string;
  eval_train: string;
  eval_test: string;
  /** cifar100: the 100 fine classes or the 20 coarse superclasses. */
  label_mode: 'fine' | 'coarse';
  /** folder: labels from class subfolders ('auto': when every image is in one), or none. */
  labels: 'auto' | 'folders' | 'none';
  /** folder: the images to use, relative to `path`: a list, or a text file with one per line. */
  files?: string | string[];
  /** folder: a glob on paths relative to `path`, e.g. '** /*.jpg' (no space); '' = every image. */
  glob: string;
  /** folder: where the decode cache goes; '' = the caller's cache folder. */
  cache: string;
  /** folder: stop with exit 2 at an undecodable image instead of skipping it with a warning. */
  strict: boolean;
  /** Labels removed from the pretraining split (e.g. the classes few-shot evaluation holds out). */
  exclude_classes: number[];
  /** How training batches are drawn: plain shuffled order, or P classes x m_per_class images (src/data/sampler.ts). */
  sampler: 'random' | 'm_per_class';
  /** m_per_class sampler: images per class in a batch; train.batch_size must be a multiple of it. */
  m_per_class: number;
  /** Open-world split (src/data/class-split.ts): pretrain on some classes, evaluate on the unseen rest. */
  class_split: 'none' | 'half' | (string | number)[];
}

const split = (what: string) => ({ type: 'string', default: 'auto', description: what });

export const dataSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    source: { enum: ['mnist', 'idx', 'cifar10', 'cifar100', 'stl10', 'folder'], default: 'mnist', description: 'where images come from' },
    path: { type: 'string', default: '', description: 'folder holding the dataset files (not used by mnist)' },
    image_size: { type: 'integer', minimum: 8, maximum: 1024, default: 28, description: 'images are resized (cover + centre crop) to this square size' },
    channels: { enum: [1, 3], default: 1, description: '1 = grayscale, 3 = RGB' },
    test_fraction: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1, default: 0.2, description: 'held-out share for mnist and for eval_test: holdout' },
    limit_train: { type: 'integer', minimum: 0, default: 0, description: 'cap on pretrain / eval_train items (seeded subset); 0 = all' },
    limit_test: { type: 'integer', minimum: 0, default: 0, description: 'cap on eval_test items (seeded subset); 0 = all' },
    pretrain: split('split(s) to pretrain on, e.g. train, unlabeled, train+unlabeled; auto = per source'),
    eval_train: split('labelled split for the k-NN bank / linear-probe training; none = no evaluation'),
    eval_test: split('labelled split to evaluate on; holdout = test_fraction of eval_train'),
    label_mode: { enum: ['fine', 'coarse'], default: 'fine', description: 'cifar100 labels: 100 fine classes or 20 coarse superclasses' },
    labels: { enum: ['auto', 'folders', 'none'], default: 'auto', description: 'folder: labels from class subfolders' },
    files: {
      type: ['string', 'array'], items: { type: 'string' },
      description: 'folder: images to use relative to path (a list, or a text file with one per line)',
    },
    glob: { type: 'string', default: '', description: "folder: pattern on paths relative to path, e.g. '**/*.jpg'" },
    cache: { type: 'string', default: '', description: "folder: decode cache directory; '' = checkpoints/.cache" },
    strict: { type: 'boolean', default: false, description: 'exit 2 on an undecodable image instead of skipping it' },
    exclude_classes: { type: 'array', items: { type: 'integer', minimum: 0 }, uniqueItems: true, default: [], description: 'labels removed from the pretraining split, e.g. the classes few-shot evaluation holds out' },
    sampler: {
      enum: ['random', 'm_per_class'], default: 'random',
      description: 'random = every image once per epoch in shuffled order; m_per_class = batches of batch_size / m_per_class distinct classes x m_per_class images '
        + '(each class shuffled and cut into chunks of m_per_class, a short last chunk topped up with images of the same class, which are then seen twice; '
        + 'a class smaller than m_per_class is an error; chunks dealt into batches of distinct classes, the short last batch per train.drop_last; '
        + 'only when one class holds more than about 1/P of the images are some of its images left for a later epoch); needs labels',
    },
    m_per_class: { type: 'integer', minimum: 2, default: 4, description: 'm_per_class sampler: images per class in a batch; train.batch_size must be a multiple of it (at least 2 classes per batch)' },
    class_split: {
      anyOf: [{ enum: ['none', 'half'] }, { type: 'array', items: { type: ['string', 'integer'] } }],
      default: 'none',
      description: 'open-world split: none; half = pretrain on the first half of the class names in natural order, evaluate on the rest (Musgrave et al. 2020); '
        + 'or a list of class names to train on. Pretraining keeps only training classes, eval_train / eval_test only the unseen ones (applied after the limits)',
    },
  },
} as const;
