// STL-10 binary version (stl10_binary/): 96x96x3 images stored one channel plane
// after another, each plane column-major; labels are bytes 1..10.
//   train_X.bin + train_y.bin (5,000), test_X.bin + test_y.bin (8,000),
//   unlabeled_X.bin (100,000 images, 2.7 GB: the reason pixels stay on disk).
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../util/errors.ts';
import { FileSource } from './bytes.ts';
import { classNames } from './cifar.ts';
import { RecordDataset } from './records.ts';

export const STL10_SPLITS = ['train', 'test', 'unlabeled'] as const;
export type Stl10Split = (typeof STL10_SPLITS)[number];

const SIDE = 96;
const PIXELS = SIDE * SIDE * 3;

export function stl10Folder(dir: string): string {
  const sub = path.join(dir, 'stl10_binary');
  return fs.existsSync(sub) ? sub : dir;
}

export function openStl10(dir: string, split: Stl10Split): RecordDataset {
  const folder = stl10Folder(dir);
  const xPath = path.join(folder, `${split}_X.bin`);
  if (!fs.existsSync(xPath)) {
    throw new UserError(`data.path: ${xPath} does not exist; expected the STL-10 binary version (${split}_X.bin${split === 'unlabeled' ? '' : `, ${split}_y.bin`}) in ${dir}`);
  }
  const source = new FileSource(xPath);
  try {
    if (source.size === 0 || source.size % PIXELS !== 0) {
      throw new UserError(`${xPath}: ${source.size} bytes is not a whole number of STL-10 images; expected a multiple of ${PIXELS} (96 x 96 x 3)`);
    }
    const n = source.size / PIXELS;
    const labels = split === 'unlabeled' ? undefined : readLabels(path.join(folder, `${split}_y.bin`), n);
    return new RecordDataset(`stl10:${split}`, [{ source, start: 0, count: n }],
      { height: SIDE, width: SIDE, channels: 3, order: 'chw-colmajor', stride: PIXELS, pixelOffset: 0 },
      labels, labels ? classNames(path.join(folder, 'class_names.txt'), 10) : undefined);
  } catch (e) {
    source.close();
    throw e;
  }
}

function readLabels(file: string, n: number): Int32Array {
  if (!fs.existsSync(file)) throw new UserError(`data.path: ${file} does not exist; expected the ${n} labels of ${path.basename(file).replace('_y', '_X')}`);
  const bytes = fs.readFileSync(file);
  if (bytes.length !== n) throw new UserError(`${file}: ${bytes.length} labels, but its images file holds ${n}; expected one byte per image`);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    if (bytes[i] < 1 || bytes[i] > 10) throw new UserError(`${file}: label ${bytes[i]} at position ${i}; expected 1..10`);
    labels[i] = bytes[i] - 1;
  }
  return labels;
}
