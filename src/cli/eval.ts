// `selfsup eval knn|linear|fewshot|retrieval|verify --checkpoint PATH [RECIPE]`:
// rebuilds the checkpoint's backbone (retrieval / verify: and its head, with
// eval.embedding: head), evaluates it frozen on the recipe's labelled splits,
// and writes a JSON report with PNG plots (default: <run folder>/eval/);
// verify also writes calibration.json there.
import { existsSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { openSplits, closeSplits } from '../data/index.ts';
import { numClasses } from '../data/types.ts';
import { evaluateFewShot, evaluateKnn, evaluateLinear, type EvalSetup, type Evaluated } from '../eval/evaluate.ts';
import { evaluateRetrieval, evaluateVerify, type EmbeddingEvaluated } from '../eval/evaluate-retrieval.ts';
import { embedderFromCheckpoint } from '../eval/embedder.ts';
import { writeReport, type WrittenReport } from '../eval/report.ts';
import { readMetrics } from '../log/metrics.ts';
import { buildAugmenter } from '../train/augmenter.ts';
import { loadCheckpoint } from '../train/checkpoint.ts';
import { runPaths } from '../train/run-folder.ts';
import { UserError } from '../util/errors.ts';
import { backboneFromCheckpoint, recipeForCheckpoint } from './export.ts';
import { stderr } from './common.ts';
import { checkOutDir } from './out-path.ts';
import { assertFiniteOutputs } from '../eval/finite-outputs.ts';

export type EvalKind = 'knn' | 'linear' | 'fewshot' | 'retrieval' | 'verify';

/** The kinds that score the test split alone (no train bank). */
const TEST_ONLY: readonly EvalKind[] = ['fewshot', 'retrieval', 'verify'];

export interface EvalCommandOptions {
  checkpoint: string;
  /** A recipe file to use instead of the one saved in the checkpoint. */
  recipePath?: string;
  sets: string[];
  /** JSON mode: human lines go to stderr, the caller prints the returned report. */
  json: boolean;
  /** Report folder (default: the run folder's eval/, else eval/ next to the checkpoint). */
  out?: string;
}

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

/** The run folder a checkpoint lives in (<run>/ckpt/step-*), if it looks like one. */
function runDirOf(ckptPath: string): string | undefined {
  const parent = dirname(ckptPath);
  return basename(parent) === 'ckpt' ? dirname(parent) : undefined;
}

export async function evalCommand(kind: EvalKind, opts: EvalCommandOptions): Promise<Record<string, unknown>> {
  const say = opts.json ? stderr : (l: string) => process.stdout.write(`${l}\n`);
  const ck = loadCheckpoint(opts.checkpoint);
  const runDir = runDirOf(ck.path);
  const outDir = opts.out ?? join(runDir ?? dirname(ck.path), 'eval');
  // Before the evaluation, which can take minutes: a report that cannot be written is the user's to redirect.
  checkOutDir('--out', outDir);
  const recipe = recipeForCheckpoint(ck, opts.recipePath, opts.sets);
  const embeds = kind === 'retrieval' || kind === 'verify';
  // Before any data is read, so that embedding: head without a head fails fast.
  const embedder = embeds ? embedderFromCheckpoint(ck, recipe, recipe.eval.embedding ?? 'backbone') : undefined;
  const backbone = embedder?.backbone ?? backboneFromCheckpoint(ck, recipe);
  const size = recipe.data.image_size;
  await assertFiniteOutputs(backbone, [size, size, recipe.data.channels], `checkpoint ${ck.path}`);
  const splits = await openSplits(recipe.data, { seed: recipe.train.seed, cacheDir: join('checkpoints', '.cache'), log: stderr });
  try {
    const { evalTrain, evalTest } = splits;
    if (!evalTest || (!TEST_ONLY.includes(kind) && !evalTrain)) {
      throw new UserError(TEST_ONLY.includes(kind)
        ? `data: eval ${kind} needs a labelled test split; set data.eval_test (a labelled split, or holdout) in the recipe`
        : `data: eval ${kind} needs labelled splits; set data.eval_train and data.eval_test (or eval_test: holdout) in the recipe`);
    }
    const { evalTransform } = buildAugmenter(recipe, splits.pretrain.channels);
    const classes = Math.max(evalTrain ? numClasses(evalTrain) : 0, numClasses(evalTest));
    const setup: EvalSetup = {
      backbone, train: evalTrain ?? evalTest, test: evalTest, transform: evalTransform, config: recipe.eval,
      numClasses: classes, seed: recipe.train.seed, log: stderr,
    };
    const embedSetup = embedder && {
      embedder, test: evalTest, transform: evalTransform, config: recipe.eval, seed: recipe.train.seed, plots: recipe.eval.plots,
      checkpoint: ck.path, classNames: evalTest.classNames, log: stderr,
    };
    const ev: Evaluated<{ kind: string }> & Partial<EmbeddingEvaluated<{ kind: string }>> = kind === 'knn' ? await evaluateKnn(setup)
      : kind === 'linear' ? await evaluateLinear(setup)
        : kind === 'retrieval' ? await evaluateRetrieval(embedSetup!)
          : kind === 'verify' ? await evaluateVerify(embedSetup!)
            : await evaluateFewShot(setup);

    const metricsPath = runDir ? runPaths(runDir).metrics : undefined;
    const written = await writeReport(ev, {
      outDir,
      meta: {
        checkpoint: ck.path, step: ck.meta.step, epoch: ck.meta.epoch, method: ck.meta.method, recipe: recipe.name,
        train_split: TEST_ONLY.includes(kind) ? undefined : evalTrain?.name, test_split: evalTest.name,
      },
      // The k-NN-over-training curve belongs to the k-NN / probe reports.
      metrics: metricsPath && existsSync(metricsPath) && !embeds ? readMetrics(metricsPath) : [],
      classNames: evalTest.classNames ?? evalTrain?.classNames,
      numClasses: classes,
      plots: recipe.eval.plots,
      mapPoints: recipe.eval.map_points,
      seed: recipe.train.seed,
      log: stderr,
    });
    if (ev.files?.length) attachFiles(written, ev.files, outDir);
    for (const line of summary(written.report)) say(line);
    say(`report: ${written.json}`);
    for (const p of written.plots) say(`plot: ${p}`);
    for (const p of (written.report.files as { other?: string[] }).other ?? []) say(`file: ${p}`);
    return written.report;
  } finally {
    closeSplits(splits);
  }
}

/** Writes retrieval.png / calibration.json / ... next to the report and lists them in its JSON. */
function attachFiles(written: WrittenReport, files: NonNullable<EmbeddingEvaluated<unknown>['files']>, outDir: string): void {
  const other: string[] = [];
  for (const f of files) {
    const p = join(outDir, f.name);
    writeFileSync(p, f.data);
    (f.plot ? written.plots : other).push(p);
  }
  written.report.files = { json: written.json, plots: written.plots, ...(other.length ? { other } : {}) };
  writeFileSync(written.json, JSON.stringify(written.report, null, 2) + '\n');
}

function summary(r: Record<string, unknown>): string[] {
  const n = (k: string) => r[k] as number;
  switch (r.kind) {
    case 'knn':
      return [
        `k-NN (k=${n('k')}, T=${n('temperature')}, ${String(r.weighting)} votes) on ${n('n_test')} test items, bank ${n('n_train')}:`,
        `  top-1 ${pct(n('top1'))}  top-5 ${pct(n('top5'))}  (majority vote top-1 ${pct((r.majority as { top1: number }).top1)})`,
      ];
    case 'linear':
      return [
        `linear probe (${n('epochs')} epochs, weight decay ${n('weight_decay')} chosen on a ${pct(n('val_fraction'))} validation split):`,
        `  test top-1 ${pct(n('top1'))}  top-5 ${pct(n('top5'))}  (final epoch; backbone unchanged, sha256 ${String(r.backbone_sha256).slice(0, 12)})`,
      ];
    case 'retrieval': {
      const rec = r.recall_at as Record<string, number>;
      return [
        `retrieval (${String(r.embedding)}, cosine, leave-one-out) on ${n('n_test')} test items of ${n('num_classes')} classes: ${n('num_queries')} queries, ${n('skipped_queries')} skipped (single-item class):`,
        `  P@1 ${pct(n('precision_at_1'))}  R-precision ${pct(n('r_precision'))}  MAP@R ${pct(n('map_at_r'))}  `
          + Object.entries(rec).map(([k, v]) => `R@${k} ${pct(v)}`).join(' '),
      ];
    }
    case 'verify': {
      const p = r.pairs as { same: number; different: number; sampling: string };
      return [
        `verification (${String(r.embedding)}, cosine) on ${p.same} same-class / ${p.different} different-class pairs (${p.sampling}):`,
        `  ROC AUC ${n('auc').toFixed(4)}  EER ${pct(n('eer'))} (threshold ${n('eer_threshold').toFixed(4)})`,
        `  threshold ${n('threshold').toFixed(4)} for FAR ${n('far')}: measured FAR ${n('far_measured').toExponential(2)}, TAR ${pct(n('tar'))}`,
      ];
    }
    default:
      return [
        `few-shot ${n('ways')}-way ${n('shots')}-shot, ${n('queries')} queries per class, ${n('episodes')} episodes on classes [${(r.classes as number[]).join(', ')}]:`,
        `  accuracy ${pct(n('accuracy'))} +- ${pct(n('ci95'))} (95% interval)`,
      ];
  }
}
