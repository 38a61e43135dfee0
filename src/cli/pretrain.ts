// `selfsup pretrain [RECIPE]`: train, checkpoint, export, and report k-NN numbers.
import { pretrain } from '../train/trainer.ts';
import { chooseRunDir } from '../train/run-folder.ts';
import { StopSignal } from '../train/signals.ts';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { listCheckpoints } from '../train/checkpoint.ts';
import { UserError } from '../util/errors.ts';
import { chooseBackend, printJson, resolveRecipe, stderr } from './common.ts';
import { checkOutDir } from './out-path.ts';

export interface PretrainCliOptions {
  set: string[]; out?: string; resume?: boolean; backend: string; threads?: number; seed?: number; json?: boolean; quiet?: boolean;
}

const pct = (x: number | undefined) => (x === undefined ? 'n/a' : `${(100 * x).toFixed(2)}%`);

/**
 * --out names the run folder itself. Without --resume a new run would start at step 0 there and
 * overwrite the checkpoints (same step names), backbone and recipe of the run already in it.
 */
function checkFreshRunDir(dir: string, resume: boolean): void {
  checkOutDir('--out', dir);
  if (resume) return;
  const ckpts = listCheckpoints(join(dir, 'ckpt'));
  const backbone = join(dir, 'backbone', 'model.json');
  if (ckpts.length > 0 || existsSync(backbone)) {
    throw new UserError(`--out ${dir}: already holds a run (${ckpts.at(-1) ?? backbone}); add --resume to continue it, or give a new --out folder`);
  }
}

export async function pretrainCommand(recipePath: string | undefined, o: PretrainCliOptions): Promise<void> {
  const recipe = resolveRecipe(recipePath, o.set, o.seed);
  if (o.out !== undefined) checkFreshRunDir(o.out, !!o.resume);
  const backend = await chooseBackend(o.backend, o.threads, stderr);
  const runDir = chooseRunDir(recipe.name, o.out, !!o.resume);
  stderr(`run folder: ${runDir}`);
  const stop = new StopSignal();
  stop.install();
  try {
    const res = await pretrain({
      recipe, runDir, resume: !!o.resume, backend: backend.chosen, quiet: o.quiet, knnBefore: true, log: stderr, stop,
    });
    const lines = [
      `done: ${res.steps} steps, ${res.images} images in ${res.seconds.toFixed(1)} s (${res.imagesPerSecond.toFixed(1)} img/s on ${res.backend})`,
      `loss: ${res.firstLoss?.toFixed(4) ?? 'n/a'} -> ${res.finalLoss?.toFixed(4) ?? 'n/a'}`,
      `k-NN (k=${recipe.eval.knn_k}, T=${recipe.eval.knn_t}) top-1: random init ${pct(res.knnBefore?.top1)}, trained ${pct(res.knnAfter?.top1)}`,
      ...(res.retrievalAfter ? [`retrieval MAP@R: ${recipe.model.init ? 'model.init' : 'random init'} ${pct(res.retrievalBefore?.map_at_r)}, trained ${pct(res.retrievalAfter.map_at_r)}; P@1 ${pct(res.retrievalBefore?.precision_at_1)} -> ${pct(res.retrievalAfter.precision_at_1)}`] : []),
      `checkpoint: ${res.checkpoint}`,
      ...(res.backbone ? [`backbone: ${res.backbone}`] : []),
    ];
    if (o.json) {
      for (const l of lines) stderr(l);
      printJson({
        run_dir: res.runDir, backend: res.backend, method: res.method, steps: res.steps, images: res.images,
        seconds: res.seconds, images_per_sec: res.imagesPerSecond, first_loss: res.firstLoss, final_loss: res.finalLoss,
        knn_before: res.knnBefore, knn_after: res.knnAfter, retrieval_before: res.retrievalBefore, retrieval_after: res.retrievalAfter,
        checkpoint: res.checkpoint, backbone: res.backbone,
      });
    } else {
      process.stdout.write(lines.join('\n') + '\n');
    }
  } finally {
    stop.uninstall();
  }
}
