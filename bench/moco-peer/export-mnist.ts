// Writes selfsup's seeded 80/20 split of the embedded MNIST digits as raw arrays
// ({train,test}_x.u8: N x 28 x 28 bytes, {train,test}_y.i32: N labels) for the
// PyTorch MoCo reference (moco_mnist.py), so both sides train on the same images.
//   npx tsx bench/moco-peer/export-mnist.ts /tmp/mnist_moco [seed]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadEmbeddedMnist } from '../../src/data/mnist.ts';
import type { MemoryDataset } from '../../src/data/memory.ts';

const dir = process.argv[2] ?? '/tmp/mnist_moco';
const seed = Number(process.argv[3] ?? 0);
const { train, test } = loadEmbeddedMnist({ testFraction: 0.2, seed });
mkdirSync(dir, { recursive: true });
for (const [name, d] of [['train', train], ['test', test]] as [string, MemoryDataset][]) {
  const all = d.read(Int32Array.from({ length: d.n }, (_, i) => i));
  writeFileSync(join(dir, `${name}_x.u8`), all.data);
  writeFileSync(join(dir, `${name}_y.i32`), new Uint8Array(d.labels!.buffer, d.labels!.byteOffset, d.labels!.byteLength));
  console.log(`${name}: ${d.n} images -> ${join(dir, `${name}_x.u8`)}`);
}
