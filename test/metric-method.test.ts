// The metric-learning methods through the real trainer on tiny embedded-MNIST
// runs: labels reach the loss, mined-tuple stats are logged, retrieval is scored
// on the unseen classes before and after, resume is exact, model.init loads a
// backbone from a checkpoint or an exported model, and bad input is a UserError.
import * as tf from '@tensorflow/tfjs';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { readMetrics } from '../src/log/metrics.ts';
import { buildMethod } from '../src/methods/index.ts';
import { loadRecipe } from '../src/recipe/index.ts';
import { loadCheckpoint } from '../src/train/checkpoint.ts';
import { pretrain } from '../src/train/trainer.ts';

beforeAll(async () => { await tf.setBackend('cpu'); });

const tiny = [
  'data.image_size=12', 'data.limit_train=300', 'data.limit_test=100', 'data.m_per_class=6',
  'model.widths=[4,8]', 'model.blocks=[1,1]', 'model.head_hidden=16', 'model.head_out=8',
  'train.batch_size=24', 'train.epochs=2', 'train.checkpoint_every=1', 'train.keep_checkpoints=3',
  'optim.warmup_epochs=0', 'eval.knn_k=10', 'eval.every=0', 'log.every=1',
];
const quiet = { resume: false, backend: 'cpu', quiet: true, exportBackbone: false };
const tmp = (p: string) => mkdtempSync(join(tmpdir(), `selfsup-${p}-`));

async function errorOf(p: Promise<unknown>): Promise<Error | undefined> {
  return p.then(() => undefined, (e: Error) => e);
}

describe('metric-learning methods in the trainer (cpu, tiny)', () => {
  it('supcon trains on classes 0-4 and scores retrieval on 5-9 before and after', async () => {
    const recipe = loadRecipe('recipes/mnist-supcon.yaml', tiny);
    const runDir = join(tmp('supcon'), 'run');
    const before = tf.memory().numTensors;
    const res = await pretrain({ ...quiet, recipe, runDir, knnBefore: true });
    expect(tf.memory().numTensors).toBe(before);
    expect(res.method).toBe('supcon');
    const train = readMetrics(join(runDir, 'metrics.jsonl')).filter((m) => m.kind === 'train');
    expect(train.length).toBe(res.steps);
    for (const row of train) {
      expect(Number.isFinite(row.loss as number)).toBe(true);
      expect(row.empty_batches).toBe(0);
    }
    // 100 test digits, about half of them 5-9: every query is an unseen-class image.
    for (const r of [res.retrievalBefore!, res.retrievalAfter!]) {
      expect(r.num_queries).toBeGreaterThan(30);
      expect(r.num_queries).toBeLessThan(70);
      for (const v of [r.precision_at_1, r.r_precision, r.map_at_r, ...Object.values(r.recall_at)]) {
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThanOrEqual(1);
      }
      expect(r.recall_at['8']).toBeGreaterThanOrEqual(r.recall_at['1']);
    }
    const ret = readMetrics(join(runDir, 'metrics.jsonl')).filter((m) => m.kind === 'retrieval').map((m) => m.when);
    expect(ret).toEqual(['init', 'final']);
  });

  it('triplet with the semi-hard miner logs miner stats and resumes exactly', async () => {
    const base = tmp('triplet');
    const full = loadRecipe('recipes/mnist-triplet.yaml', tiny);
    const a = await pretrain({ ...quiet, recipe: full, runDir: join(base, 'a') });
    const rows = readMetrics(join(base, 'a', 'metrics.jsonl')).filter((m) => m.kind === 'train');
    expect(rows.every((m) => typeof m.miner_triplets === 'number')).toBe(true);
    expect(rows.some((m) => (m.miner_triplets as number) > 0)).toBe(true);

    const cut = loadRecipe('recipes/mnist-triplet.yaml', [...tiny, 'train.max_steps=3']);
    await pretrain({ ...quiet, recipe: cut, runDir: join(base, 'b') });
    const lines: string[] = [];
    const b = await pretrain({ ...quiet, recipe: full, runDir: join(base, 'b'), resume: true, log: (m) => lines.push(m) });
    expect(lines.some((l) => /resuming from .*step-00000003 \(step 3 of/.test(l))).toBe(true);
    // The resumed run ran only the remaining steps: its train rows continue at step 4.
    const bRows = readMetrics(join(base, 'b', 'metrics.jsonl')).filter((m) => m.kind === 'train').map((m) => m.step);
    expect(bRows).toEqual(Array.from({ length: a.steps }, (_, i) => i + 1));
    expect(b.steps).toBe(a.steps);
    expect(readFileSync(join(b.checkpoint, 'tensors.bin')).equals(readFileSync(join(a.checkpoint, 'tensors.bin')))).toBe(true);
  });

  it('model.init loads the backbone from a checkpoint and from an exported model', async () => {
    const runDir = join(tmp('init'), 'run');
    const simclr = loadRecipe('recipes/mnist-simclr.yaml', [...tiny, 'train.epochs=1']);
    await pretrain({ ...quiet, recipe: simclr, runDir, exportBackbone: true });
    const ck = loadCheckpoint(runDir);
    for (const init of [runDir, join(runDir, 'backbone')]) {
      const m = await buildMethod(loadRecipe('recipes/mnist-supcon.yaml', [...tiny, `model.init=${init}`]));
      for (const v of [...m.backbone.params(), ...m.backbone.buffers()]) {
        const want = ck.tensors.get(v.name)!;
        const got = v.variable.dataSync();
        expect(Array.from(got), `${v.name} from ${init}`).toEqual(Array.from(want));
      }
      m.dispose();
    }
    const err = await errorOf(buildMethod(loadRecipe('recipes/mnist-supcon.yaml', [...tiny, 'model.widths=[4,16]', `model.init=${runDir}`])));
    expect(err?.name).toBe('UserError');
    expect(err?.message).toMatch(/^model\.init: .*'backbone\/layer2\.0\/conv1\/kernel' has shape \[3,3,4,8\] there, the model expects \[3,3,4,16\]/);
    const missing = await errorOf(buildMethod(loadRecipe('recipes/mnist-supcon.yaml', [...tiny, 'model.init=/no/such/run'])));
    expect(missing?.message).toMatch(/^model\.init: \/no\/such\/run does not exist/);
  });

  it('embeds the backbone directly with model.head_out: 0, which only metric methods accept', async () => {
    const m = await buildMethod(loadRecipe('recipes/mnist-contrastive.yaml', [...tiny, 'model.head_out=0']));
    expect(m.head).toBeUndefined();
    expect(m.trainable().every((p) => p.name.startsWith('backbone/'))).toBe(true);
    m.dispose();
    const err = await errorOf(buildMethod(loadRecipe('recipes/mnist-simclr.yaml', [...tiny, 'model.head_out=0'])));
    expect(err?.message).toMatch(/model\.head_out: 0/);
  });

  it('refuses a miner that does not feed the loss, naming the valid ones', async () => {
    const err = await errorOf(buildMethod(loadRecipe('recipes/mnist-triplet.yaml', [...tiny, 'method.miner=multisimilarity'])));
    expect(err?.name).toBe('UserError');
    expect(err?.message).toMatch(/method\.miner: 'multisimilarity' does not feed the triplet loss; valid: auto, .*semi_hard/);
  });

  it('refuses a supervised method on unlabelled images', async () => {
    const dir = tmp('flat');
    mkdirSync(join(dir, 'imgs'));
    for (let i = 0; i < 6; i++) {
      await sharp({ create: { width: 16, height: 16, channels: 3, background: { r: 40 * i, g: 10, b: 200 - 30 * i } } }).png().toFile(join(dir, 'imgs', `${i}.png`));
    }
    const recipe = loadRecipe('recipes/mnist-supcon.yaml', [...tiny, 'data.source=folder', `data.path=${join(dir, 'imgs')}`, 'data.labels=none',
      'data.class_split=none', 'data.sampler=random', 'data.channels=3', 'train.batch_size=4', `data.cache=${join(dir, 'cache')}`]);
    const err = await errorOf(pretrain({ ...quiet, recipe, runDir: join(dir, 'run') }));
    expect(err?.name).toBe('UserError');
    expect(err?.message).toMatch(/method\.name: supcon learns from labels, and the pretraining split .* has none/);
  });
});
