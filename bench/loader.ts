// Loader throughput: batches/s and images/s reading a synthetic CIFAR-10 file
// from disk (against the same images held in memory), and a folder of PNGs
// decoded on every read (sharp) against the same folder through the decode cache.
// Run: npx tsx bench/loader.ts [--json]   (also part of `npm run bench`)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { openCachedFolder } from '../src/data/cache.ts';
import { openCifar } from '../src/data/cifar.ts';
import { FolderDataset, folderSplit, listImages } from '../src/data/folder.ts';
import { Loader } from '../src/data/loader.ts';
import { MemoryDataset } from '../src/data/memory.ts';
import type { Dataset } from '../src/data/types.ts';
import { fitDataset } from '../src/data/views.ts';
import { Rng } from '../src/util/rng.ts';

interface Throughput { images: number; seconds: number; batchesPerSecond: number; imagesPerSecond: number }

async function measure(ds: Dataset, batchSize: number, maxBatches: number): Promise<Throughput> {
  const loader = new Loader(ds, { batchSize, dropLast: true, seed: 0, shuffle: true, prefetch: 2 });
  const t0 = process.hrtime.bigint();
  let batches = 0;
  let images = 0;
  for await (const b of loader.epoch(0)) {
    images += b.batch.n;
    if (++batches >= maxBatches) break;
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { images, seconds: round(seconds), batchesPerSecond: round(batches / seconds), imagesPerSecond: Math.round(images / seconds) };
}

function writeCifar(file: string, n: number, rng: Rng): void {
  const rec = Buffer.alloc(n * 3073);
  for (let i = 0; i < rec.length; i++) rec[i] = i % 3073 === 0 ? rng.int(10) : rng.int(256);
  fs.writeFileSync(file, rec);
}

async function writePngs(dir: string, n: number, side: number, rng: Rng): Promise<void> {
  for (let i = 0; i < n; i++) {
    const px = Buffer.alloc(side * side * 3);
    // Smooth gradients plus noise: compresses like a photo rather than like noise.
    for (let p = 0; p < side * side; p++) for (let c = 0; c < 3; c++) px[p * 3 + c] = ((p % side) * 3 + c * 40 + rng.int(24) + i) & 255;
    const cls = `class${i % 10}`;
    fs.mkdirSync(path.join(dir, cls), { recursive: true });
    await sharp(px, { raw: { width: side, height: side, channels: 3 } }).png().toFile(path.join(dir, cls, `${i}.png`));
  }
}

export async function run(opts: { json: boolean }): Promise<Record<string, unknown>> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'selfsup-bench-loader-'));
  const rng = new Rng('bench-loader');
  const say = (m: string) => { if (!opts.json) console.log(m); };
  try {
    // CIFAR-format file, read per batch at offsets; reference: the same pixels in memory.
    const nCifar = 10_000;
    writeCifar(path.join(tmp, 'data_batch_1.bin'), nCifar, rng);
    fs.copyFileSync(path.join(tmp, 'data_batch_1.bin'), path.join(tmp, 'test_batch.bin'));
    const cifar = openCifar('cifar10', tmp, 'train');
    const all = await cifar.read(Int32Array.from({ length: nCifar }, (_, i) => i));
    const mem = new MemoryDataset('memory', all.data, 32, 32, 3, cifar.labels);
    const cifarDisk = await measure(cifar, 256, 39);
    const cifarMem = await measure(mem, 256, 39);
    const cifar64 = await measure(fitDataset(cifar, 64, 64, 3), 256, 10);
    cifar.close();
    say(`loader, CIFAR-format file (${nCifar} x 32x32x3, batch 256): ${cifarDisk.imagesPerSecond} img/s from disk, ${cifarMem.imagesPerSecond} img/s from memory (ratio ${(cifarDisk.imagesPerSecond / cifarMem.imagesPerSecond).toFixed(2)}), ${cifar64.imagesPerSecond} img/s resized to 64x64`);

    // Folder of PNGs: decode with sharp on every read, then through the decode cache.
    const nPng = 1000;
    const side = 96;
    const dir = path.join(tmp, 'images');
    await writePngs(dir, nPng, side, rng);
    const split = folderSplit(dir, '.', listImages(dir, {}), 'auto', 'bench');
    const decodeDs = new FolderDataset('decode', split, 64, 3);
    const decode = await measure(decodeDs, 128, 4);
    const t0 = Date.now();
    const cached = await openCachedFolder('cached', split, { cacheDir: path.join(tmp, 'cache'), size: 64, channels: 3, strict: false, log: () => {} });
    const buildSeconds = (Date.now() - t0) / 1000;
    const fromCache = await measure(cached, 128, 7);
    cached.close();
    say(`loader, folder of ${nPng} PNGs (${side}x${side} -> 64x64, batch 128): ${decode.imagesPerSecond} img/s decoding every read, ${fromCache.imagesPerSecond} img/s from the decode cache (x${(fromCache.imagesPerSecond / decode.imagesPerSecond).toFixed(1)}); building the cache took ${buildSeconds.toFixed(1)} s (${Math.round(nPng / buildSeconds)} img/s)`);
    return {
      cifar_disk: cifarDisk, cifar_memory: cifarMem, cifar_disk_over_memory: round(cifarDisk.imagesPerSecond / cifarMem.imagesPerSecond),
      cifar_resized_64: cifar64,
      folder_decode: decode, folder_cached: fromCache, folder_cache_build_seconds: round(buildSeconds),
      folder_cached_over_decode: round(fromCache.imagesPerSecond / decode.imagesPerSecond),
    };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function round(x: number): number { return Math.round(x * 100) / 100; }

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const json = process.argv.includes('--json');
  const res = await run({ json });
  if (json) console.log(JSON.stringify(res));
}
