// Ctrl-C / SIGTERM in every long phase: feature extraction (k-NN, export), the
// linear probe, the k-NN monitor during pretraining and embedding must give the
// signal handler a macrotask turn each batch and stop. In process: a StopSignal
// is installed (so SIGTERM does not end the test worker), each batch is made slow
// with a test hook, and SIGTERM is sent from a timer, which itself only fires if
// the loop yields. A loop that never yields runs to the end and the test fails.
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MemoryDataset } from '../src/data/memory.ts';
import { extractFeatures, scaleToUnit } from '../src/eval/features.ts';
import { linearProbe } from '../src/eval/linear.ts';
import { readMetrics } from '../src/log/metrics.ts';
import { loadRecipe } from '../src/recipe/index.ts';
import { embedImages } from '../src/search/embed.ts';
import { readManifest } from '../src/search/manifest.ts';
import { Interrupted, Stopped, StopSignal } from '../src/train/signals.ts';
import { pretrain } from '../src/train/trainer.ts';
import { Rng } from '../src/util/rng.ts';
import { pictureFolder, tempDir, tinyCheckpoint } from './search-fixtures.ts';

beforeAll(async () => { await tf.setBackend('cpu'); });

let stop: StopSignal | undefined;
afterEach(() => {
  stop?.uninstall();
  stop = undefined;
  delete process.env.SELFSUP_TEST_HOOKS;
});

/** Installs a StopSignal, makes every `batchPoint` take `ms`, and sends SIGTERM after `afterMs` of event-loop time. */
function armSigterm(hooks: string, afterMs: number): StopSignal {
  stop = new StopSignal();
  stop.install('test');
  process.env.SELFSUP_TEST_HOOKS = hooks;
  setTimeout(() => process.kill(process.pid, 'SIGTERM'), afterMs);
  return stop;
}

const silentStderr = () => {
  const w = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  return () => { process.stderr.write = w; };
};

describe('signals during long phases', () => {
  it('feature extraction stops at the next batch', async () => {
    const n = 64;
    const rng = new Rng(1);
    const ds = new MemoryDataset('sig', Uint8Array.from({ length: n * 16 }, () => rng.int(256)), 4, 4, 1);
    const bb = { apply: (x: tf.Tensor) => x.reshape([x.shape[0], -1]) } as unknown as Parameters<typeof extractFeatures>[0];
    let done = 0;
    const restore = silentStderr();
    armSigterm('slow:batch-features:40', 60);
    const err = await extractFeatures(bb, ds, scaleToUnit, { batchSize: 4, normalize: true, onProgress: (d) => { done = d; } })
      .then(() => undefined, (e: Error) => e).finally(restore);
    expect(err).toBeInstanceOf(Stopped);
    expect((err as Stopped).exitCode).toBe(143);
    expect(err!.message).toBe('stopped by SIGTERM during feature extraction');
    expect(done).toBeGreaterThan(0);
    expect(done).toBeLessThan(n / 2); // 16 batches of 40 ms; the signal came at ~60 ms
  });

  it('the linear probe stops between mini-batches', async () => {
    const rng = new Rng(2);
    const dim = 8;
    const n = 120;
    const mk = (m: number, role: 'train' | 'test') => ({
      features: Float32Array.from({ length: m * dim }, () => rng.normal()), labels: Int32Array.from({ length: m }, () => rng.int(3)), dim, role,
    });
    const cfg = loadRecipe('recipes/mnist-simclr.yaml', []).eval.linear;
    const restore = silentStderr();
    armSigterm('slow:batch-linear:30', 80);
    const err = await linearProbe(mk(n, 'train'), mk(30, 'test'), {
      ...cfg, epochs: 60, weight_decay: [0], val_fraction: 0, numClasses: 3, rng: new Rng(3), log: () => {},
    }).then(() => undefined, (e: Error) => e).finally(restore);
    expect(err).toBeInstanceOf(Stopped);
    expect(err!.message).toBe('stopped by SIGTERM during linear probe');
  });

  it('pretraining: a signal during the k-NN monitor checkpoints the epoch-end step and exits 143', async () => {
    const runDir = join(mkdtempSync(join(tmpdir(), 'selfsup-sigmon-')), 'run');
    const recipe = loadRecipe('recipes/mnist-simclr.yaml', [
      'data.image_size=8', 'data.limit_train=32', 'data.limit_test=32', 'model.widths=[4,8]', 'model.blocks=[1,1]',
      'model.head_hidden=8', 'model.head_out=8', 'train.batch_size=16', 'train.epochs=3', 'train.checkpoint_every=3',
      'eval.every=1', 'eval.batch_size=8', 'log.every=1', 'log.tensorboard=false',
    ]);
    stop = new StopSignal();
    stop.install('test');
    // The signal is raised as the monitor after epoch 1 (step 2) starts; it can only be seen inside the monitor's loop.
    process.env.SELFSUP_TEST_HOOKS = 'raise:phase-knn-monitor:SIGTERM';
    const restore = silentStderr();
    const err = await pretrain({ recipe, runDir, resume: false, backend: 'cpu', quiet: true, exportBackbone: false, stop })
      .then(() => undefined, (e: Error) => e).finally(restore);
    expect(err).toBeInstanceOf(Interrupted);
    expect((err as Interrupted).exitCode).toBe(143);
    expect((err as Interrupted).checkpoint).toMatch(/step-00000002$/);
    expect(readdirSync(join(runDir, 'ckpt'))).toEqual(['step-00000002']);
    // The monitor never finished, and no step ran after it.
    const rows = readMetrics(join(runDir, 'metrics.jsonl'));
    expect(rows.filter((r) => r.kind === 'knn')).toEqual([]);
    expect(rows.filter((r) => r.kind === 'train').map((r) => r.step)).toEqual([1, 2]);
  });

  it('embedding stops after committing the current batch; a rerun embeds the rest', async () => {
    const { run } = await tinyCheckpoint('sig');
    const images = await pictureFolder(24);
    const out = join(tempDir('selfsup-sigemb-'), 'index');
    const restore = silentStderr();
    armSigterm('slow:batch-embed:60', 30);
    const err = await embedImages({ checkpoint: run, images, out, engine: 'exact', batchSize: 2, quiet: true, log: () => {} })
      .then(() => undefined, (e: Error) => e).finally(restore);
    expect(err).toBeInstanceOf(Stopped);
    expect(err!.message).toMatch(/^stopped by SIGTERM during embedding; \d+ images committed to .*index; run the same command again/);
    const committed = readManifest(out).count;
    expect(committed).toBeGreaterThan(0);
    expect(committed).toBeLessThan(12);
    expect(committed % 2).toBe(0);
    stop!.uninstall();
    stop = undefined;
    delete process.env.SELFSUP_TEST_HOOKS;
    const again = await embedImages({ checkpoint: run, images, out, engine: 'exact', batchSize: 2, quiet: true, log: () => {} });
    expect(again.unchanged).toBe(committed);
    expect(again.added).toBe(24 - committed);
    expect(again.count).toBe(24);
  });
});
