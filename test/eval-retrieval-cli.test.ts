import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { evalCommand } from '../src/cli/eval.ts';
import { DEFAULT_RECIPE } from '../src/cli/common.ts';
import { loadRecipe } from '../src/recipe/index.ts';
import { backboneFromRecipe } from '../src/methods/index.ts';
import { buildProjectionHead } from '../src/models/heads.ts';
import type { Module } from '../src/models/module.ts';
import { saveCheckpoint } from '../src/train/checkpoint.ts';
import { weightsHash } from '../src/eval/guard.ts';
import { Rng } from '../src/util/rng.ts';
import { UserError } from '../src/util/errors.ts';

// Run folders holding one checkpoint of a tiny backbone (one with a SimCLR projection head, one
// without), evaluated on 30 MNIST test digits (10 classes, ~3 each).
const sets = ['data.limit_train=30', 'data.limit_test=30', 'model.widths=[4]', 'model.blocks=[1]', 'model.head_hidden=8', 'model.head_out=4',
  'eval.batch_size=30', 'eval.map_points=20'];

async function makeRun(withHead: boolean): Promise<{ run: string; hash: string }> {
  const run = mkdtempSync(join(tmpdir(), 'selfsup-retrieval-cli-'));
  const recipe = loadRecipe(DEFAULT_RECIPE, sets);
  const rng = new Rng('retrieval-cli');
  const bb = backboneFromRecipe(recipe, rng);
  const modules: Module[] = [bb];
  if (withHead) modules.push(buildProjectionHead(bb.featureDim, 8, 4, rng, true));
  await saveCheckpoint(join(run, 'ckpt'), { step: 3, epoch: 1, batchInEpoch: 0, method: 'simclr', recipe }, modules.flatMap((m) => [
    ...m.params().map((p) => ({ name: p.name, group: 'param' as const, tensor: p.variable })),
    ...m.buffers().map((p) => ({ name: p.name, group: 'state' as const, tensor: p.variable })),
  ]), 1);
  return { run, hash: await weightsHash(bb) };
}

describe('selfsup eval retrieval | verify (command)', () => {
  let withHead: { run: string; hash: string };
  let noHead: { run: string; hash: string };
  beforeAll(async () => {
    await tf.setBackend('cpu');
    withHead = await makeRun(true);
    noHead = await makeRun(false);
  });

  it('retrieval: the JSON report with the metric keys, retrieval.png and the 2-D map in <run>/eval', async () => {
    const r = await evalCommand('retrieval', { checkpoint: withHead.run, sets: [], json: true });
    expect(r.kind).toBe('retrieval');
    expect(r.embedding).toBe('backbone');
    expect(r.similarity).toBe('cosine');
    expect(r.backbone_sha256).toBe(withHead.hash);
    expect(r.embedder_sha256).toBe(withHead.hash);
    expect(r.n_test).toBe(30);
    expect(r.n_train).toBe(0);
    expect(r.num_queries as number + (r.skipped_queries as number)).toBe(30);
    expect(r.num_classes).toBe(10);
    for (const k of ['precision_at_1', 'r_precision', 'map_at_r']) {
      expect(r[k] as number).toBeGreaterThanOrEqual(0);
      expect(r[k] as number).toBeLessThanOrEqual(1);
    }
    const rec = r.recall_at as Record<string, number>;
    expect(Object.keys(rec)).toEqual(['1', '2', '4', '8']);
    expect(rec['1']).toBe(r.precision_at_1); // Recall@1 and P@1 are the same event
    expect(rec['8']).toBeGreaterThanOrEqual(rec['4']);
    const saved = JSON.parse(readFileSync(join(withHead.run, 'eval', 'retrieval.json'), 'utf8'));
    expect(saved.map_at_r).toBe(r.map_at_r);
    const sheet = PNG.sync.read(readFileSync(join(withHead.run, 'eval', 'retrieval.png')));
    expect(sheet.width).toBeGreaterThan(8 * 56);
    expect(sheet.height).toBeGreaterThan(8 * 56); // one row per class shown, up to 8
    expect(saved.files.plots).toContain(join(withHead.run, 'eval', 'retrieval.png'));
    expect(existsSync(join(withHead.run, 'eval', 'retrieval-embedding.png'))).toBe(true);
  });

  it('verify with eval.embedding=head: calibration.json next to the report, hashes of backbone and head', async () => {
    const out = join(withHead.run, 'verify');
    const r = await evalCommand('verify', { checkpoint: withHead.run, sets: ['eval.embedding=head', 'eval.verify.far=0.01'], json: true, out });
    expect(r.kind).toBe('verify');
    expect(r.embedding).toBe('head');
    expect(r.feature_dim).toBe(4);
    expect(r.backbone_sha256).toBe(withHead.hash);
    expect(r.embedder_sha256).not.toBe(withHead.hash);
    const cal = JSON.parse(readFileSync(join(out, 'calibration.json'), 'utf8'));
    expect(Object.keys(cal).sort()).toEqual(['auc', 'backbone_sha256', 'checkpoint', 'eer', 'eer_threshold', 'embedder_sha256', 'embedding',
      'far', 'far_measured', 'feature_dim', 'pairs', 'similarity', 'tar', 'threshold'].sort());
    expect(cal).toMatchObject({ similarity: 'cosine', embedding: 'head', far: 0.01, backbone_sha256: withHead.hash, threshold: r.threshold, auc: r.auc });
    expect(cal.checkpoint).toContain(join(withHead.run, 'ckpt'));
    // 30 items: all 435 pairs; same-class pairs from the ~3 per digit.
    expect(cal.pairs.sampling).toBe('all');
    expect(cal.pairs.same + cal.pairs.different).toBe(435);
    expect(cal.far_measured).toBeLessThanOrEqual(0.01);
    expect(cal.auc).toBeGreaterThanOrEqual(0);
    expect(cal.auc).toBeLessThanOrEqual(1);
    expect(existsSync(join(out, 'verify-roc.png'))).toBe(true);
  });

  it('bad input is a user error: missing checkpoint, head without a head, no labelled test split', async () => {
    await expect(evalCommand('retrieval', { checkpoint: join(noHead.run, 'nope'), sets: [], json: true })).rejects.toThrow(UserError);
    await expect(evalCommand('retrieval', { checkpoint: noHead.run, sets: ['eval.embedding=head'], json: true })).rejects.toThrow(/eval\.embedding.*no 'head\/\.\.\.' variables/);
    await expect(evalCommand('verify', { checkpoint: withHead.run, sets: ['data.eval_test=none'], json: true })).rejects.toThrow(/data\.eval_test/);
    await expect(evalCommand('retrieval', { checkpoint: withHead.run, sets: ['eval.embedding=head', 'model.head_out=0'], json: true })).rejects.toThrow(/eval\.embedding.*head_out/);
    await expect(evalCommand('retrieval', { checkpoint: withHead.run, sets: ['eval.embedding=tail'], json: true })).rejects.toThrow(/eval\.embedding/);
  });

  it('exits 2 with a one-line message from the command line', () => {
    const r = spawnSync(process.execPath, ['bin/selfsup.js', 'eval', 'retrieval', '--checkpoint', noHead.run, '--set', 'eval.embedding=head', '--backend', 'cpu'],
      { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/eval\.embedding: head/);
    expect(r.stderr).not.toMatch(/\n\s+at .*\.(ts|js):\d+/);
  });
});
