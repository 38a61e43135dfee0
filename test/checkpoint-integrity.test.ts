// Checkpoint integrity: tensors.bin carries a SHA-256 in meta.json. A corrupt
// checkpoint is named and never loaded: --resume falls back to the previous good
// one (and the resumed run rewrites the same bytes), eval / model.init / embed
// stop with a user error (exit 2). Old checkpoints without a checksum still load.
import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdtempSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { evalCommand } from '../src/cli/eval.ts';
import { readMetrics } from '../src/log/metrics.ts';
import { initBackbone } from '../src/models/init.ts';
import { loadRecipe } from '../src/recipe/index.ts';
import { loadEmbedder } from '../src/search/model.ts';
import {
  CorruptCheckpointError, listCheckpoints, loadCheckpoint, loadNewestGoodCheckpoint, saveCheckpoint,
} from '../src/train/checkpoint.ts';
import { pretrain } from '../src/train/trainer.ts';
import { isUserError } from '../src/util/errors.ts';

beforeAll(async () => { await tf.setBackend('cpu'); });

const meta = (step: number) => ({ step, epoch: 0, batchInEpoch: step, method: 'simclr', recipe: { name: 't' } });

async function threeCheckpoints(): Promise<string> {
  const root = join(mkdtempSync(join(tmpdir(), 'selfsup-ckint-')), 'ckpt');
  const a = tf.variable(tf.tensor1d([1, 2, 3, 4]));
  for (const step of [1, 2, 3]) {
    a.assign(tf.add(a, 1));
    await saveCheckpoint(root, meta(step), [{ name: 'a', group: 'param', tensor: a }], 3);
  }
  a.dispose();
  return root;
}

function flipByte(file: string, at: number): void {
  const b = readFileSync(file);
  b[at] ^= 0x10;
  writeFileSync(file, b);
}

describe('checkpoint checksums', () => {
  it('records the SHA-256 and size of tensors.bin and verifies it on load', async () => {
    const root = await threeCheckpoints();
    const m = JSON.parse(readFileSync(join(root, 'step-00000003', 'meta.json'), 'utf8'));
    expect(m.checksum.bytes).toBe(16);
    expect(m.checksum.sha256).toMatch(/^[0-9a-f]{64}$/);
    const ck = loadCheckpoint(root);
    expect(ck.verified).toBe(true);
    expect(Array.from(ck.tensors.get('a')!)).toEqual([4, 5, 6, 7]);
  });

  it('names a bit-flipped or truncated tensors.bin and refuses it (a user error: exit 2)', async () => {
    const root = await threeCheckpoints();
    flipByte(join(root, 'step-00000003', 'tensors.bin'), 5);
    const e = (() => { try { loadCheckpoint(root); } catch (x) { return x as Error; } })();
    expect(e).toBeInstanceOf(CorruptCheckpointError);
    expect(isUserError(e)).toBe(true);
    expect(e!.message).toMatch(/checkpoint .*step-00000003 is corrupt: tensors\.bin SHA-256 .* does not match/);
    truncateSync(join(root, 'step-00000002', 'tensors.bin'), 12);
    expect(() => loadCheckpoint(join(root, 'step-00000002'))).toThrow(/step-00000002 is corrupt: tensors\.bin has 12 bytes, meta\.json says 16/);
    writeFileSync(join(root, 'step-00000001', 'meta.json'), '{"format": "selfsup-chec');
    expect(() => loadCheckpoint(join(root, 'step-00000001'))).toThrow(/step-00000001 is corrupt: unreadable meta\.json/);
  });

  it('loads an old checkpoint without a checksum, marked unverified', async () => {
    const root = await threeCheckpoints();
    const f = join(root, 'step-00000003', 'meta.json');
    const m = JSON.parse(readFileSync(f, 'utf8'));
    delete m.checksum;
    writeFileSync(f, JSON.stringify(m));
    const ck = loadCheckpoint(root);
    expect(ck.verified).toBe(false);
    expect(Array.from(ck.tensors.get('a')!)).toEqual([4, 5, 6, 7]);
  });

  it('falls back past corrupt checkpoints to the newest good one, moving the bad ones aside', async () => {
    const root = await threeCheckpoints();
    flipByte(join(root, 'step-00000003', 'tensors.bin'), 0);
    truncateSync(join(root, 'step-00000002', 'tensors.bin'), 0);
    const warnings: string[] = [];
    const ck = loadNewestGoodCheckpoint(root, (w) => warnings.push(w));
    expect(ck!.meta.step).toBe(1);
    expect(Array.from(ck!.tensors.get('a')!)).toEqual([2, 3, 4, 5]);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/step-00000003 is corrupt.*moved aside to .*corrupt-step-00000003; falling back to .*step-00000001/);
    expect(warnings[1]).toMatch(/step-00000002 is corrupt/);
    expect(readdirSync(root).sort()).toEqual(['corrupt-step-00000002', 'corrupt-step-00000003', 'step-00000001']);
    expect(listCheckpoints(root)).toHaveLength(1);
  });

  it('refuses to resume when every checkpoint is corrupt, and leaves them where they are', async () => {
    const root = await threeCheckpoints();
    for (const s of ['1', '2', '3']) flipByte(join(root, `step-0000000${s}`, 'tensors.bin'), 3);
    expect(() => loadNewestGoodCheckpoint(root, () => {})).toThrow(/every checkpoint in .* is corrupt/);
    expect(listCheckpoints(root)).toHaveLength(3);
  });
});

const tiny = [
  'data.image_size=8', 'data.limit_train=32', 'data.limit_test=32',
  'model.widths=[4,8]', 'model.blocks=[1,1]', 'model.head_hidden=8', 'model.head_out=8',
  'train.batch_size=16', 'train.epochs=3', 'train.checkpoint_every=1', 'train.keep_checkpoints=3',
  'eval.every=0', 'log.every=1', 'log.tensorboard=false',
];

describe('corrupt checkpoints in a run', () => {
  it('--resume reports the corrupt newest checkpoint, resumes from the previous one and rewrites the same bytes; eval, model.init and embed refuse it', async () => {
    const runDir = join(mkdtempSync(join(tmpdir(), 'selfsup-ckrun-')), 'run');
    const recipe = loadRecipe('recipes/mnist-simclr.yaml', tiny);
    const opts = { recipe, runDir, backend: 'cpu', quiet: true, exportBackbone: false };
    await pretrain({ ...opts, resume: false });
    const newest = join(runDir, 'ckpt', 'step-00000006');
    const good = readFileSync(join(newest, 'tensors.bin'));
    flipByte(join(newest, 'tensors.bin'), 1000);

    // Every reader of a checkpoint refuses it, naming it.
    await expect(evalCommand('knn', { checkpoint: runDir, sets: [], json: true })).rejects.toThrow(/step-00000006 is corrupt/);
    const other = loadRecipe('recipes/mnist-simclr.yaml', tiny);
    const { buildMethod } = await import('../src/methods/index.ts');
    const m = await buildMethod(other);
    await expect(initBackbone(m.backbone, newest)).rejects.toThrow(/model\.init: checkpoint .*step-00000006 is corrupt/);
    m.dispose();
    expect(() => loadEmbedder({ checkpoint: runDir })).toThrow(/step-00000006 is corrupt/);

    const logs: string[] = [];
    const before = tf.memory().numTensors;
    const res = await pretrain({ ...opts, resume: true, log: (l) => logs.push(l) });
    expect(tf.memory().numTensors).toBe(before);
    expect(logs.join('\n')).toMatch(/warning: checkpoint .*step-00000006 is corrupt: tensors\.bin SHA-256.*falling back to .*step-00000004/);
    expect(logs.join('\n')).toMatch(/resuming from .*step-00000004 \(step 4 of 6\)/);
    expect(res.steps).toBe(6);
    // Steps 5 and 6 ran again (train rows appended after the first run's 1..6), from step 4's state: same bytes as before the damage.
    const steps = readMetrics(join(runDir, 'metrics.jsonl')).filter((r) => r.kind === 'train').map((r) => r.step);
    expect(steps).toEqual([1, 2, 3, 4, 5, 6, 5, 6]);
    expect(readFileSync(join(newest, 'tensors.bin')).equals(good)).toBe(true);
    expect(existsSync(join(runDir, 'ckpt', 'corrupt-step-00000006', 'tensors.bin'))).toBe(true);
  });
});
