import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { evaluateKnn, evaluateLinear, evaluateFewShot, type EvalSetup } from '../src/eval/evaluate.ts';
import { writeReport, accuracyCurve } from '../src/eval/report.ts';
import { scaleToUnit } from '../src/eval/features.ts';
import { ProtocolError, weightsHash } from '../src/eval/guard.ts';
import { MemoryDataset } from '../src/data/memory.ts';
import { buildBackbone } from '../src/models/resnet.ts';
import type { Module, NamedVariable } from '../src/models/module.ts';
import type { EvalConfig } from '../src/recipe/sections/eval.ts';
import type { MetricsRecord } from '../src/log/metrics.ts';
import { Rng } from '../src/util/rng.ts';

/** 3 classes of 6x6 grey images: a bright band in rows, columns or the diagonal, plus noise. */
function bands(n: number, seed: number): MemoryDataset {
  const rng = new Rng(seed);
  const px = new Uint8Array(n * 36);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    labels[i] = c;
    const k = rng.int(6);
    for (let y = 0; y < 6; y++) for (let x = 0; x < 6; x++) {
      const on = c === 0 ? y === k : c === 1 ? x === k : (x + k) % 6 === y;
      px[i * 36 + y * 6 + x] = Math.max(0, Math.min(255, (on ? 220 : 30) + Math.round(15 * rng.normal())));
    }
  }
  return new MemoryDataset(`bands${seed}`, px, 6, 6, 1, labels, ['rows', 'cols', 'diag']);
}

const config: EvalConfig = {
  knn_k: 20, knn_t: 0.1, knn_weighting: 'exp', every: 0, batch_size: 32, knn_chunk: 16, monitor_limit: 0,
  linear: { epochs: 30, lr: 0.1, weight_decay: [0, 1e-3], batch_size: 32, momentum: 0.9, schedule: 'cosine', val_fraction: 0.2 },
  fewshot: { ways: 2, shots: 5, queries: 5, episodes: 40, classes: [1, 2] },
  plots: true, map_points: 40,
};

/** A fixed feature map that separates the three band directions: row, column and diagonal energy. */
function bandFeatures(): Module {
  const w = tf.variable(tf.tidy(() => {
    const k = new Float32Array(36 * 18);
    for (let y = 0; y < 6; y++) for (let x = 0; x < 6; x++) {
      k[(y * 6 + x) * 18 + y] = 1; k[(y * 6 + x) * 18 + 6 + x] = 1; k[(y * 6 + x) * 18 + 12 + ((y - x + 6) % 6)] = 1;
    }
    return tf.tensor2d(k, [36, 18]);
  }), false);
  return {
    // Bright lines sum to ~5.2, background lines to ~1.5: keep the excess, and add each group's total.
    apply: (x) => tf.tidy(() => {
      const lines = x.reshape([x.shape[0], 36]).matMul(w).sub(3).relu();
      const groups = tf.stack([0, 1, 2].map((g) => lines.slice([0, 6 * g], [-1, 6]).sum(1)), 1);
      return tf.concat([lines, groups.mul(2)], 1);
    }),
    params: (): NamedVariable[] => [{ name: 'bb/w', variable: w, kind: 'weight' }],
    buffers: () => [],
  };
}

describe('evaluate + report', () => {
  beforeAll(async () => { await tf.setBackend('cpu'); });
  const train = bands(90, 1);
  const test = bands(45, 2);

  it('k-NN, linear and few-shot on separable features; reports and plots on disk', async () => {
    const s: EvalSetup = { backbone: bandFeatures(), train, test, transform: scaleToUnit, config, numClasses: 3, seed: 0 };
    const before = tf.memory().numTensors;
    const knn = await evaluateKnn(s);
    expect(knn.report.top1).toBeGreaterThan(0.95);
    expect(knn.report.n_train).toBe(90);
    expect(knn.report.backbone_sha256).toBe(await weightsHash(s.backbone));
    const lin = await evaluateLinear(s);
    expect(lin.report.top1).toBeGreaterThan(0.95);
    expect(lin.report.search).toHaveLength(2);
    const fs = await evaluateFewShot(s);
    expect(fs.report.accuracy).toBeGreaterThan(0.9);
    expect(fs.report.classes).toEqual([1, 2]);
    expect(tf.memory().numTensors).toBe(before);

    const dir = mkdtempSync(join(tmpdir(), 'selfsup-eval-'));
    const metrics: MetricsRecord[] = [
      { kind: 'knn', step: 0, epoch: 0, time: '', top1: 0.3, top5: 1 },
      { kind: 'train', step: 5, epoch: 1, time: '', loss: 3 },
      { kind: 'knn', step: 10, epoch: 2, time: '', top1: 0.7, top5: 1 },
    ];
    const out = await writeReport(knn, {
      outDir: dir, meta: { checkpoint: 'x' }, metrics, classNames: test.classNames, numClasses: 3, plots: true, mapPoints: 40, seed: 0,
    });
    const saved = JSON.parse(readFileSync(out.json, 'utf8'));
    expect(saved.kind).toBe('knn');
    expect(saved.checkpoint).toBe('x');
    expect(saved.top1).toBe(knn.report.top1);
    expect(out.plots.map((p) => p.slice(dir.length + 1))).toEqual(['knn-accuracy.png', 'knn-confusion.png', 'knn-embedding.png']);
    // Each PNG is the Vega SVG beside it rasterized at 2x.
    for (const p of out.plots) {
      const png = PNG.sync.read(readFileSync(p));
      const svg = readFileSync(p.replace(/\.png$/, '.svg'), 'utf8');
      const [, w, h] = /^<svg[^>]* width="(\d+)" height="(\d+)"/.exec(svg)!;
      expect([png.width, png.height]).toEqual([2 * Number(w), 2 * Number(h)]);
    }
    expect(readFileSync(join(dir, 'knn-accuracy.svg'), 'utf8')).toContain('k-NN accuracy during pretraining');
    const fsOut = await writeReport(fs, { outDir: dir, meta: {}, numClasses: 3, plots: true, mapPoints: 10, seed: 0 });
    expect(fsOut.plots.map((p) => p.slice(dir.length + 1))).toEqual(['fewshot-embedding.png']);
    expect(existsSync(join(dir, 'fewshot.json'))).toBe(true);
  });

  it('accuracy curve takes knn records by epoch, later ones winning', () => {
    const c = accuracyCurve([
      { kind: 'knn', step: 0, epoch: 0, time: '', top1: 0.1, top5: 0.5 },
      { kind: 'knn', step: 9, epoch: 3, time: '', top1: 0.4, top5: 0.8 },
      { kind: 'knn', step: 9, epoch: 3, time: '', top1: 0.5, top5: 0.9 },
    ]);
    expect(c).toEqual([{ label: 'k-NN top-1', x: [0, 3], y: [0.1, 0.5] }, { label: 'k-NN top-5', x: [0, 3], y: [0.5, 0.9] }]);
  });

  it('a backbone that changes in eval mode trips the guard', async () => {
    const v = tf.variable(tf.scalar(0), false);
    const leaky: Module = {
      apply: (x, training) => {
        // A buggy batch norm that updates running stats even in eval mode.
        if (!training) v.assign(v.add(1));
        return tf.tidy(() => x.reshape([x.shape[0], -1]));
      },
      params: () => [],
      buffers: (): NamedVariable[] => [{ name: 'bn/moving_mean', variable: v, kind: 'bn' }],
    };
    const s: EvalSetup = { backbone: leaky, train, test, transform: scaleToUnit, config, numClasses: 3, seed: 0 };
    await expect(evaluateLinear(s)).rejects.toThrow(ProtocolError);
    await expect(evaluateKnn(s)).rejects.toThrow(/weights changed/);
  });

  it('a real ResNet backbone in eval mode stays frozen and yields finite features', async () => {
    const bb = buildBackbone({ arch: 'resnet', widths: [4], blocks: [1], inChannels: 1 }, new Rng(0));
    const s: EvalSetup = { backbone: bb, train, test, transform: scaleToUnit, config: { ...config, knn_k: 5 }, numClasses: 3, seed: 0 };
    const r = await evaluateKnn(s);
    expect(r.testFeatures.dim).toBe(4);
    expect(r.testFeatures.features.every(Number.isFinite)).toBe(true);
    // The reported top-1 is the share of its own predictions that match the labels.
    const hits = r.predictions!.reduce((h, p, i) => h + (p === r.labels[i] ? 1 : 0), 0);
    expect(r.report.top1).toBe(hits / r.labels.length);
  });
});
