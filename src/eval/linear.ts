// Linear probe: multinomial logistic regression on frozen features, the
// standard protocol for judging a self-supervised encoder. Features are
// computed once by the caller and passed in; here they are standardized with
// statistics of the fitting set, the weight decay is chosen on a validation
// split carved from the train split, the chosen decay is refitted on the whole
// train split, and the test split is scored exactly once, after the last epoch.
import type { Rng } from '../util/rng.ts';
import type { LinearProbeConfig } from '../recipe/sections/eval.ts';
import { assertFitSplit, assertNoTestLeak, type SplitRole } from './guard.ts';
import { rankClasses } from './knn.ts';
import { yieldToSignals } from '../train/signals.ts';
import { hookPoint } from '../util/test-hooks.ts';
import { createProbeEngine, type ProbeEngine, type ProbeEngineName } from './softmax-engine.ts';

export interface ProbeData {
  /** Row-major raw (not L2-normalized) frozen features. */
  features: Float32Array;
  labels: Int32Array;
  dim: number;
  /** Where these features came from; a probe refuses to fit on 'test'. */
  role?: SplitRole;
}

export interface Standardizer { mean: Float32Array; std: Float32Array }

export interface SoftmaxModel {
  /** [numClasses, dim], row-major. */
  weights: Float32Array;
  bias: Float32Array;
  dim: number;
  numClasses: number;
  standardizer: Standardizer;
}

export interface FitOptions {
  numClasses: number;
  epochs: number;
  lr: number;
  weightDecay: number;
  batchSize: number;
  momentum: number;
  schedule: 'cosine' | 'constant';
  rng: Rng;
  /** Scored after every epoch (for the validation curve); never pass the test split here. */
  monitor?: ProbeData;
  onEpoch?: (e: EpochRecord) => void;
  /** Where the dense products run: 'tfjs' (default, batched tf.matMul) or 'js' (float64 reference loops). */
  engine?: ProbeEngineName;
}

export interface EpochRecord { epoch: number; loss: number; monitorTop1?: number }

export interface Accuracy { top1: number; top5: number; predictions: Int32Array }

export interface DecayTrial {
  weight_decay: number;
  /** Validation top-1 after the last epoch: what the choice is based on. */
  val_top1_final: number;
  /** Best validation top-1 over epochs and its epoch; printed for information only. */
  val_top1_best_epoch: number;
  best_epoch: number;
}

export interface LinearProbeResult {
  /** Test accuracy of the final epoch of the refit on the whole train split. */
  top1: number;
  top5: number;
  predictions: Int32Array;
  weight_decay: number;
  epochs: number;
  search: DecayTrial[];
  /** Final-fit training loss per epoch. */
  loss_curve: number[];
  /** Fraction of test rows found verbatim in the train features (should be ~0). */
  test_overlap: number;
}

/** Mean and std per feature over the rows `rows` of f (all rows when omitted), summed in that row order. */
export function fitStandardizer(f: Float32Array, dim: number, rows?: Int32Array): Standardizer {
  const n = rows ? rows.length : f.length / dim;
  const mean = new Float64Array(dim);
  const sq = new Float64Array(dim);
  for (let r = 0; r < n; r++) { const o = (rows ? rows[r] : r) * dim; for (let j = 0; j < dim; j++) mean[j] += f[o + j]; }
  for (let j = 0; j < dim; j++) mean[j] /= Math.max(1, n);
  for (let r = 0; r < n; r++) { const o = (rows ? rows[r] : r) * dim; for (let j = 0; j < dim; j++) { const d = f[o + j] - mean[j]; sq[j] += d * d; } }
  // Constant features get std 1 so they map to 0 rather than to NaN.
  const std = Float32Array.from(sq, (s) => { const v = Math.sqrt(s / Math.max(1, n)); return v > 1e-8 ? v : 1; });
  return { mean: Float32Array.from(mean), std };
}

/**
 * Rows `rows` of f (all when omitted), standardized, into `out` (first
 * rows x dim floats) or a new array. Reusing `out` matters: a fresh 100 MB
 * array costs ~1 s of page faults on the sandboxed machines measured here
 * against ~0.1 s for the arithmetic.
 */
export function standardize(f: Float32Array, dim: number, s: Standardizer, rows?: Int32Array, out?: Float32Array): Float32Array {
  const n = rows ? rows.length : f.length / dim;
  const res = out ? out.subarray(0, n * dim) : new Float32Array(n * dim);
  // Row by row rather than i % dim: the modulo made this the slowest part of a probe fit.
  const { mean, std } = s;
  for (let r = 0; r < n; r++) {
    const o = r * dim;
    const src = (rows ? rows[r] : r) * dim;
    for (let j = 0; j < dim; j++) res[o + j] = (f[src + j] - mean[j]) / std[j];
  }
  return res;
}

/** Class scores (logits) for raw features, [n, numClasses] row-major. */
export function predictLogits(m: SoftmaxModel, features: Float32Array): Float32Array {
  const n = features.length / m.dim;
  const out = new Float32Array(n * m.numClasses);
  // One standardized row at a time: same float32 values as standardizing the whole split, no split-sized copy.
  const x = new Float32Array(m.dim);
  const one = Int32Array.of(0);
  for (let i = 0; i < n; i++) {
    one[0] = i;
    standardize(features, m.dim, m.standardizer, one, x);
    for (let c = 0; c < m.numClasses; c++) {
      let z = m.bias[c];
      for (let j = 0; j < m.dim; j++) z += x[j] * m.weights[c * m.dim + j];
      out[i * m.numClasses + c] = z;
    }
  }
  return out;
}

export function accuracyFromScores(scores: Float32Array | Float64Array, labels: Int32Array, numClasses: number): Accuracy {
  const n = labels.length;
  const s64 = scores instanceof Float64Array ? scores : Float64Array.from(scores);
  const predictions = new Int32Array(n);
  let h1 = 0;
  let h5 = 0;
  for (let i = 0; i < n; i++) {
    const ranked = rankClasses(s64, i, numClasses);
    predictions[i] = ranked[0];
    if (ranked[0] === labels[i]) h1++;
    if (ranked.slice(0, 5).includes(labels[i])) h5++;
  }
  return { top1: n ? h1 / n : 0, top5: n ? h5 / n : 0, predictions };
}

export function scoreProbe(m: SoftmaxModel, data: ProbeData): Accuracy {
  return accuracyFromScores(predictLogits(m, data.features), data.labels, m.numClasses);
}

function gatherRows(f: Float32Array, dim: number, idx: ArrayLike<number>, from: number, to: number): Float32Array {
  const out = new Float32Array((to - from) * dim);
  for (let r = from; r < to; r++) out.set(f.subarray(idx[r] * dim, (idx[r] + 1) * dim), (r - from) * dim);
  return out;
}

/** Several softmax regressions fitted side by side: one per weight decay, everything else shared. */
export interface MultiFitOptions extends Omit<FitOptions, 'weightDecay' | 'onEpoch'> {
  weightDecays: readonly number[];
  /** Called once per epoch with every model's record, in weightDecays order. */
  onEpoch?: (records: EpochRecord[]) => void;
}

/**
 * Softmax regression by mini-batch SGD with momentum, zero init, L2 decay on
 * the weights (not the bias), cosine or constant learning rate per step.
 * The two dense products per step run on `opts.engine` (default 'tfjs':
 * tf.matMul on the active backend; 'js': float64 loops, kept as the
 * reference); softmax, loss, momentum and decay are float64 JS for both, with
 * the same shuffles, so the engines differ only in float32 vs float64
 * accumulation of those products. Async to give signal handlers a turn per
 * batch: on 60k features a fit takes seconds to minutes.
 */
export async function fitSoftmaxRegression(train: ProbeData, opts: FitOptions): Promise<{ model: SoftmaxModel; history: EpochRecord[] }> {
  const { weightDecay, onEpoch, ...rest } = opts;
  const r = await fitSoftmaxRegressions(train, { ...rest, weightDecays: [weightDecay], onEpoch: onEpoch && ((recs) => onEpoch(recs[0])) });
  return { model: r.models[0], history: r.histories[0] };
}

/**
 * One softmax regression per entry of `weightDecays`, all on the same
 * standardized features and the same minibatch order (one shuffle per epoch,
 * shared). The models never interact: each one's numbers are exactly those of
 * fitSoftmaxRegression with that decay and the same rng (bit for bit on the
 * 'js' engine; on 'tfjs' up to float32 accumulation order). Fitting them
 * together lets one gather, one X_b W^T and one G^T X_b per step serve every
 * decay, with W stacked as [decays x classes, dim].
 */
export async function fitSoftmaxRegressions(train: ProbeData, opts: MultiFitOptions): Promise<{ models: SoftmaxModel[]; histories: EpochRecord[][] }> {
  return fitOnRows(train, opts, {});
}

/**
 * fitSoftmaxRegressions on rows `rows` of `train` (all when omitted), with the
 * standardized copy written into `workspace` when given: the protocol's search
 * and refit share one buffer, and the search's fitting split is never copied raw.
 */
async function fitOnRows(
  train: ProbeData, opts: MultiFitOptions, view: { rows?: Int32Array; workspace?: Float32Array },
): Promise<{ models: SoftmaxModel[]; histories: EpochRecord[][] }> {
  assertFitSplit(train.role, 'linear probe');
  const { dim } = train;
  const { rows } = view;
  const c = opts.numClasses;
  const labels = rows ? Int32Array.from(rows, (i) => train.labels[i]) : train.labels;
  const n = labels.length;
  if (n === 0) throw new Error('linear probe: empty training set');
  if (opts.weightDecays.length === 0) throw new Error('linear probe: no weight decay to fit');
  for (const l of labels) if (l < 0 || l >= c) throw new Error(`linear probe: label ${l} outside [0, ${c})`);
  const standardizer = fitStandardizer(train.features, dim, rows);
  const x = standardize(train.features, dim, standardizer, rows, view.workspace);
  const monitorX = opts.monitor ? standardize(opts.monitor.features, dim, standardizer) : undefined;
  const engine = createProbeEngine(opts.engine ?? 'tfjs', { x, dim, outputs: c * opts.weightDecays.length, monitorX });
  try {
    return await sgdLoop(labels, engine, opts, { dim, standardizer });
  } finally {
    engine.dispose();
  }
}

/** Top-1 accuracy of model `k` from stacked logits [n, models x classes]; ties go to the lower class, as in rankClasses. */
function stackedTop1(z: Float32Array, labels: Int32Array, numClasses: number, models: number, k: number): number {
  const n = labels.length;
  const stride = numClasses * models;
  let hits = 0;
  for (let i = 0; i < n; i++) {
    const base = i * stride + k * numClasses;
    let best = 0;
    for (let j = 1; j < numClasses; j++) if (z[base + j] > z[base + best]) best = j;
    if (best === labels[i]) hits++;
  }
  return n ? hits / n : 0;
}

async function sgdLoop(
  labels: Int32Array, engine: ProbeEngine, opts: MultiFitOptions, shape: { dim: number; standardizer: Standardizer },
): Promise<{ models: SoftmaxModel[]; histories: EpochRecord[][] }> {
  const { dim, standardizer } = shape;
  const c = opts.numClasses;
  const decays = opts.weightDecays;
  const nm = decays.length;
  const outs = c * nm;
  const n = labels.length;
  const bs = Math.min(Math.max(1, opts.batchSize), n);
  const totalSteps = opts.epochs * Math.ceil(n / bs);
  // Locals, not opts.x in the loops: opts comes in many shapes (spreads), and a
  // megamorphic property load per weight made the update the slowest part of a step.
  const { momentum, lr: baseLr, schedule } = opts;

  // Weights are [models x classes, dim] so each logit is a contiguous dot product; model k owns rows k*c..(k+1)*c.
  const w = new Float64Array(outs * dim);
  const b = new Float64Array(outs);
  const vw = new Float64Array(outs * dim);
  const vb = new Float64Array(outs);
  const gw = new Float64Array(outs * dim);
  const gb = new Float64Array(outs);
  const z = new Float64Array(bs * outs);
  const lossSum = new Float64Array(nm);
  const histories: EpochRecord[][] = decays.map(() => []);
  const order = Int32Array.from({ length: n }, (_, i) => i);
  const snapshot = (k: number): SoftmaxModel => ({
    weights: Float32Array.from(w.subarray(k * c * dim, (k + 1) * c * dim)), bias: Float32Array.from(b.subarray(k * c, (k + 1) * c)),
    dim, numClasses: c, standardizer,
  });
  let step = 0;
  for (let epoch = 1; epoch <= opts.epochs; epoch++) {
    opts.rng.shuffle(order);
    lossSum.fill(0);
    for (let s = 0; s < n; s += bs) {
      const e = Math.min(n, s + bs);
      const m = e - s;
      const lr = schedule === 'cosine' ? baseLr * 0.5 * (1 + Math.cos(Math.PI * step / totalSteps)) : baseLr;
      engine.batchLogits(order, s, e, w, b, z);
      gb.fill(0);
      for (let r = 0; r < m; r++) {
        const y = labels[order[s + r]];
        for (let mk = 0; mk < nm; mk++) {
          const zr = r * outs + mk * c;
          let max = -Infinity;
          for (let k = 0; k < c; k++) if (z[zr + k] > max) max = z[zr + k];
          const zy = z[zr + y] - max;
          let sum = 0;
          for (let k = 0; k < c; k++) { z[zr + k] = Math.exp(z[zr + k] - max); sum += z[zr + k]; }
          lossSum[mk] += Math.log(sum) - zy;
          // d(mean CE)/d(logit) = (softmax - onehot) / m, written over the logits.
          for (let k = 0; k < c; k++) {
            const g = (z[zr + k] / sum - (k === y ? 1 : 0)) / m;
            z[zr + k] = g;
            gb[mk * c + k] += g;
          }
        }
      }
      engine.weightGrad(z, gw);
      for (let mk = 0; mk < nm; mk++) {
        const wd = decays[mk];
        for (let i = mk * c * dim, end = (mk + 1) * c * dim; i < end; i++) {
          vw[i] = momentum * vw[i] + gw[i] + wd * w[i];
          w[i] -= lr * vw[i];
        }
      }
      for (let k = 0; k < outs; k++) {
        vb[k] = momentum * vb[k] + gb[k];
        b[k] -= lr * vb[k];
      }
      step++;
      await yieldToSignals('linear probe');
    }
    hookPoint('batch-linear');
    // Cross-entropy part of the objective, averaged over the epoch's items.
    const recs: EpochRecord[] = decays.map((_, mk) => ({ epoch, loss: lossSum[mk] / n }));
    if (opts.monitor) {
      // Float32 weights, as a snapshot would score them; one product for every model.
      const zm = engine.monitorLogits(Float32Array.from(w), Float32Array.from(b));
      recs.forEach((rec, mk) => { rec.monitorTop1 = stackedTop1(zm, opts.monitor!.labels, c, nm, mk); });
    }
    recs.forEach((rec, mk) => histories[mk].push(rec));
    opts.onEpoch?.(recs);
  }
  return { models: decays.map((_, k) => snapshot(k)), histories };
}

/** Random split of row indices into (fit, val); val gets round(n * fraction) rows, at least one when fraction > 0. */
export function carveValidation(n: number, fraction: number, rng: Rng): { fit: Int32Array; val: Int32Array } {
  const idx = rng.shuffle(Int32Array.from({ length: n }, (_, i) => i)) as Int32Array;
  const nVal = fraction > 0 ? Math.min(n - 1, Math.max(1, Math.round(n * fraction))) : 0;
  return { val: idx.slice(0, nVal).sort(), fit: idx.slice(nVal).sort() };
}

function subset(d: ProbeData, rows: Int32Array, role: SplitRole): ProbeData {
  return { features: gatherRows(d.features, d.dim, rows, 0, rows.length), labels: Int32Array.from(rows, (i) => d.labels[i]), dim: d.dim, role };
}

export interface LinearProbeOptions extends LinearProbeConfig {
  numClasses: number;
  rng: Rng;
  log?: (line: string) => void;
  /** See FitOptions.engine. */
  engine?: ProbeEngineName;
}

/**
 * The full protocol: decay search on a validation split of `train` (scored at
 * the final epoch; all decays fitted together on one shared minibatch order),
 * refit with the chosen decay on all of `train`, one test evaluation after the
 * last epoch.
 */
export async function linearProbe(train: ProbeData, test: ProbeData, opts: LinearProbeOptions): Promise<LinearProbeResult> {
  assertFitSplit(train.role, 'linear probe');
  hookPoint('phase-linear');
  if (train.dim !== test.dim) throw new Error(`linear probe: train dim ${train.dim} != test dim ${test.dim}`);
  const testOverlap = assertNoTestLeak(train.features, test.features, train.dim);
  const fitCommon = {
    numClasses: opts.numClasses, epochs: opts.epochs, lr: opts.lr, batchSize: opts.batch_size,
    momentum: opts.momentum, schedule: opts.schedule, engine: opts.engine,
  };
  const search: DecayTrial[] = [];
  // Standardized features of the search's fitting split, then of the whole train split.
  const workspace = new Float32Array(train.features.length);
  let chosen = opts.weight_decay[0];
  if (opts.weight_decay.length > 1 && opts.val_fraction > 0) {
    const { fit, val } = carveValidation(train.labels.length, opts.val_fraction, opts.rng.fork('linear-val'));
    const valSet = subset(train, val, 'val');
    // Every decay sees the same minibatch order (one shared shuffle stream), so the
    // decays differ in nothing but the decay, and one batched fit serves them all.
    const { histories } = await fitOnRows(
      train, { ...fitCommon, weightDecays: opts.weight_decay, rng: opts.rng.fork('linear-search'), monitor: valSet }, { rows: fit, workspace },
    );
    opts.weight_decay.forEach((wd, k) => {
      const curve = histories[k].map((h) => h.monitorTop1 ?? 0);
      const best = curve.reduce((bi, v, i) => (v > curve[bi] ? i : bi), 0);
      const trial = { weight_decay: wd, val_top1_final: curve[curve.length - 1], val_top1_best_epoch: curve[best], best_epoch: best + 1 };
      search.push(trial);
      opts.log?.(`linear probe: wd=${wd} val top-1 ${(trial.val_top1_final * 100).toFixed(2)}% (final epoch; best epoch ${trial.best_epoch}: ${(trial.val_top1_best_epoch * 100).toFixed(2)}%)`);
    });
    // Ties keep the decay listed first.
    chosen = search.reduce((a, t) => (t.val_top1_final > a.val_top1_final ? t : a)).weight_decay;
  }
  const { models: [model], histories: [history] } = await fitOnRows(
    train, { ...fitCommon, weightDecays: [chosen], rng: opts.rng.fork('linear-final') }, { workspace },
  );
  const acc = scoreProbe(model, test);
  opts.log?.(`linear probe: wd=${chosen}, ${opts.epochs} epochs, test top-1 ${(acc.top1 * 100).toFixed(2)}% top-5 ${(acc.top5 * 100).toFixed(2)}% (final epoch)`);
  return {
    top1: acc.top1, top5: acc.top5, predictions: acc.predictions, weight_decay: chosen, epochs: opts.epochs,
    search, loss_curve: history.map((h) => h.loss), test_overlap: testOverlap,
  };
}
