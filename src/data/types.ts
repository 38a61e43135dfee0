// What every data source produces: uint8 HWC images, packed back to back, read
// by index so that large sets can stay on disk (decode cache) instead of in JS memory.

/** A batch of uint8 images, HWC, packed: data.length === n * height * width * channels. */
export interface ImageBatch {
  data: Uint8Array;
  n: number;
  height: number;
  width: number;
  channels: number;
}

export interface Dataset {
  /** Human-readable name for messages, e.g. 'mnist:train' or a folder path. */
  readonly name: string;
  readonly n: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  /** Present for labelled splits. */
  readonly labels?: Int32Array;
  /** Class names by label index, when known. */
  readonly classNames?: string[];
  /** Reads the images at `indices` into one packed batch (in that order). */
  read(indices: ArrayLike<number>): ImageBatch | Promise<ImageBatch>;
  /** Releases file handles; optional. */
  close?(): void;
}

/** The three roles a recipe's data section fills. */
export interface Splits {
  /** Unlabelled images for pretraining (labels, if any, are ignored by the methods). */
  pretrain: Dataset;
  /** Labelled bank for k-NN / linear-probe training. */
  evalTrain?: Dataset;
  /** Labelled held-out split for k-NN / linear-probe testing. */
  evalTest?: Dataset;
  /** data.class_split: the classes pretraining saw, and the unseen ones evaluation keeps. */
  classSplit?: { train: string[]; eval: string[] };
}

export function numClasses(ds: Dataset): number {
  if (ds.classNames) return ds.classNames.length;
  if (!ds.labels) return 0;
  let m = -1;
  for (const l of ds.labels) if (l > m) m = l;
  return m + 1;
}
