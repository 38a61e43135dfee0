import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { evalCommand } from '../src/cli/eval.ts';
import { DEFAULT_RECIPE } from '../src/cli/common.ts';
import { loadRecipe } from '../src/recipe/index.ts';
import { backboneFromRecipe } from '../src/methods/index.ts';
import { saveCheckpoint } from '../src/train/checkpoint.ts';
import { weightsHash } from '../src/eval/guard.ts';
import { Rng } from '../src/util/rng.ts';
import { UserError } from '../src/util/errors.ts';

// A run folder holding one checkpoint of a tiny backbone, evaluated on 60 + 30 MNIST digits.
const sets = ['data.limit_train=60', 'data.limit_test=30', 'model.widths=[4]', 'model.blocks=[1]', 'eval.batch_size=30',
  'eval.knn_k=10', 'eval.linear.epochs=5', 'eval.map_points=20', 'eval.fewshot.episodes=20', 'eval.fewshot.shots=1', 'eval.fewshot.queries=1'];

describe('selfsup eval (command)', () => {
  let run: string;
  let hash: string;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    run = mkdtempSync(join(tmpdir(), 'selfsup-evalcli-'));
    const recipe = loadRecipe(DEFAULT_RECIPE, sets);
    const bb = backboneFromRecipe(recipe, new Rng('evalcli'));
    hash = await weightsHash(bb);
    await saveCheckpoint(join(run, 'ckpt'), { step: 7, epoch: 1, batchInEpoch: 0, method: 'simclr', recipe }, [
      ...bb.params().map((p) => ({ name: p.name, group: 'param' as const, tensor: p.variable })),
      ...bb.buffers().map((p) => ({ name: p.name, group: 'state' as const, tensor: p.variable })),
    ], 1);
    writeFileSync(join(run, 'metrics.jsonl'), [
      { kind: 'knn', step: 0, epoch: 0, time: '', top1: 0.2, top5: 0.6 },
      { kind: 'knn', step: 7, epoch: 1, time: '', top1: 0.3, top5: 0.7 },
    ].map((r) => JSON.stringify(r)).join('\n') + '\n');
  });

  it('knn: restores the checkpoint, writes the JSON report and three PNGs into <run>/eval', async () => {
    const r = await evalCommand('knn', { checkpoint: run, sets: [], json: true });
    expect(r.kind).toBe('knn');
    expect(r.step).toBe(7);
    expect(r.n_train).toBe(60);
    expect(r.n_test).toBe(30);
    expect(r.backbone_sha256).toBe(hash); // the restored weights are the saved ones, unchanged by evaluation
    // A share of the 30 test items, and top-5 (10 classes) counts at least the top-1 hits.
    expect((r.top1 as number) * 30).toBeCloseTo(Math.round((r.top1 as number) * 30), 9);
    expect(r.top5 as number).toBeGreaterThanOrEqual(r.top1 as number);
    expect(r.top5 as number).toBeLessThanOrEqual(1);
    const saved = JSON.parse(readFileSync(join(run, 'eval', 'knn.json'), 'utf8'));
    expect(saved.top1).toBe(r.top1);
    for (const f of ['knn-accuracy.png', 'knn-confusion.png', 'knn-embedding.png']) {
      const png = PNG.sync.read(readFileSync(join(run, 'eval', f)));
      expect(png.width).toBeGreaterThan(100);
    }
  });

  it('linear and few-shot, with --set overrides and --out', async () => {
    const out = join(run, 'other');
    mkdirSync(out);
    const lin = await evalCommand('linear', { checkpoint: join(run, 'ckpt'), sets: ['eval.plots=false'], json: true, out });
    expect(lin.kind).toBe('linear');
    expect(lin.epochs).toBe(5);
    expect((lin.search as unknown[]).length).toBe(4);
    expect(existsSync(join(out, 'linear.json'))).toBe(true);
    expect(existsSync(join(out, 'linear-confusion.png'))).toBe(false);
    const fs = await evalCommand('fewshot', { checkpoint: run, sets: ['eval.fewshot.classes=[0,1,2]', 'eval.fewshot.ways=3'], json: true, out });
    expect(fs.classes).toEqual([0, 1, 2]);
    expect(fs.episodes).toBe(20);
  });

  it('bad input is a user error', async () => {
    await expect(evalCommand('knn', { checkpoint: join(run, 'nope'), sets: [], json: true })).rejects.toThrow(UserError);
    await expect(evalCommand('knn', { checkpoint: run, sets: ['eval.knn_k=0'], json: true })).rejects.toThrow(/knn_k/);
    await expect(evalCommand('fewshot', { checkpoint: run, sets: ['eval.fewshot.ways=11'], json: true })).rejects.toThrow(UserError);
  });
});
