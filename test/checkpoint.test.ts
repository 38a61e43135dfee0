import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { listCheckpoints, loadCheckpoint, restoreVariables, saveCheckpoint } from '../src/train/checkpoint.ts';
import { UserError } from '../src/util/errors.ts';

beforeAll(async () => { await tf.setBackend('cpu'); });

const meta = (step: number) => ({ step, epoch: 0, batchInEpoch: step, method: 'simclr', recipe: { name: 't' } });

describe('checkpoints', () => {
  it('round-trips tensors by name and keeps only the newest N', async () => {
    const root = join(mkdtempSync(join(tmpdir(), 'selfsup-ck-')), 'ckpt');
    const a = tf.variable(tf.tensor2d([[1.5, -2], [3, 4.25]]));
    const b = tf.variable(tf.tensor1d([7, 8, 9]));
    for (const step of [1, 2, 3, 4]) {
      a.assign(tf.mul(a, 2));
      await saveCheckpoint(root, meta(step), [{ name: 'a', group: 'param', tensor: a }, { name: 'b', group: 'state', tensor: b }], 2);
    }
    expect(listCheckpoints(root).map((p) => p.split('/').pop())).toEqual(['step-00000003', 'step-00000004']);
    const ck = loadCheckpoint(join(root, '..'));
    expect(ck.meta.step).toBe(4);
    const a2 = tf.variable(tf.zeros([2, 2]));
    const b2 = tf.variable(tf.zeros([3]));
    restoreVariables(ck, [{ name: 'a', variable: a2 }, { name: 'b', variable: b2 }]);
    expect(Array.from(a2.dataSync())).toEqual(Array.from(a.dataSync()));
    expect(Array.from(b2.dataSync())).toEqual([7, 8, 9]);
  });

  it('ignores a torn (crashed mid-write) checkpoint and loads the last complete one', async () => {
    const root = join(mkdtempSync(join(tmpdir(), 'selfsup-ck-')), 'ckpt');
    const a = tf.variable(tf.tensor1d([1, 2]));
    await saveCheckpoint(root, meta(10), [{ name: 'a', group: 'param', tensor: a }], 3);
    // A crash during the next save leaves a temporary folder with a partial tensors.bin and no meta.json...
    mkdirSync(join(root, '.tmp-step-00000020-999999'));
    writeFileSync(join(root, '.tmp-step-00000020-999999', 'tensors.bin'), Buffer.alloc(3));
    // ...or a step folder that never got its meta.json.
    mkdirSync(join(root, 'step-00000030'));
    expect(loadCheckpoint(root).meta.step).toBe(10);
    await saveCheckpoint(root, meta(11), [{ name: 'a', group: 'param', tensor: a }], 3);
    expect(readdirSync(root).some((d) => d.startsWith('.tmp-'))).toBe(false);
    expect(existsSync(join(root, 'step-00000011', 'meta.json'))).toBe(true);
  });

  it('refuses a checkpoint from another model, naming the tensor, and assigns nothing', async () => {
    const root = join(mkdtempSync(join(tmpdir(), 'selfsup-ck-')), 'ckpt');
    await saveCheckpoint(root, meta(1), [
      { name: 'w', group: 'param', tensor: tf.ones([2, 3]) }, { name: 'v', group: 'param', tensor: tf.ones([4]) },
    ], 1);
    const ck = loadCheckpoint(root);
    const v = tf.variable(tf.zeros([4]));
    const wrong = tf.variable(tf.zeros([3, 3]));
    expect(() => restoreVariables(ck, [{ name: 'v', variable: v }, { name: 'w', variable: wrong }])).toThrow(/'w' has shape \[2,3\].*expects \[3,3\]/);
    expect(Array.from(v.dataSync())).toEqual([0, 0, 0, 0]);
    expect(() => restoreVariables(ck, [{ name: 'missing', variable: v }])).toThrow(UserError);
  });

  it('reports missing paths as user errors', () => {
    expect(() => loadCheckpoint('/nonexistent/run')).toThrow(/not found: \/nonexistent\/run/);
    const empty = mkdtempSync(join(tmpdir(), 'selfsup-ck-'));
    expect(() => loadCheckpoint(empty)).toThrow(/no checkpoint found/);
  });
});
