// `selfsup pretrain [RECIPE]`: train, checkpoint, export, and report k-NN numbers.
import { pretrain } from '../train/trainer.ts';
import { chooseRunDir } from '../train/run-folder.ts';
import { StopSignal } from '../train/signals.ts';
import { chooseBackend, printJson, resolveRecipe, stderr } from './common.ts';

export interface PretrainCliOptions {
  set: string[]; out?: string; resume?: boolean; backend: string; threads?: number; seed?: number; json?: boolean; quiet?: boolean;
}

const pct = (x: number | undefined) => (x === undefined ? 'n/a' : `${(100 * x).toFixed(2)}%`);

export async function pretrainCommand(recipePath: string | undefined, o: PretrainCliOptions): Promise<void> {
  const recipe = resolveRecipe(recipePath, o.set, o.seed);
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
