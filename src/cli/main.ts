// `selfsup` command line. Each subcommand lives in its own file; this one only
// parses arguments and maps errors to exit codes (2 bad input, 1 anything else).
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import * as tf from '@tensorflow/tfjs';
import { isUserError } from '../util/errors.ts';
import { READ_SYNC_UNSUPPORTED } from '../backend/webgpu.ts';

// TF.js greets Node users with advice to install tfjs-node (which cannot install here); PROD silences it.
tf.env().set('PROD', true);

const collect = (v: string, prev: string[]) => [...prev, v];
// Strict number options: parseInt would take '1.5' as 1 and '80x' as 80, and 'abc' would reach
// the command as NaN; commander turns these errors into "option '--port <n>' argument 'abc' is invalid".
const int = (v: string) => {
  if (!/^[+-]?\d+$/.test(v.trim())) throw new InvalidArgumentError('expected an integer');
  return Number(v);
};
const float = (v: string) => {
  const x = v.trim() === '' ? NaN : Number(v);
  if (!Number.isFinite(x)) throw new InvalidArgumentError('expected a number');
  return x;
};
/** Usage errors as one line, like every other bad input (no help dump after them). */
const oneLineUsageError = (str: string, write: (s: string) => void) => write(
  `selfsup: ${str.trim().replace(/^error: /, '').replace(/\s*\n\s*/g, ' ')} (see --help)\n`);

function backendOption(): Option {
  return new Option('--backend <name>', 'auto | tensorflow-gpu | tensorflow | native | wasm | cpu').default('auto');
}

export function buildProgram(): Command {
  const program = new Command('selfsup')
    .description('Self-supervised pretraining (SimCLR, MoCo) on TensorFlow.js')
    .configureOutput({ outputError: oneLineUsageError })
    // Inherited by every subcommand: `selfsup pretrain a.yaml b.yaml` must not silently drop b.yaml.
    .allowExcessArguments(false)
    .exitOverride();

  program.command('pretrain')
    .description('pretrain a backbone (no RECIPE: the embedded MNIST quickstart, ending with k-NN numbers)')
    .argument('[recipe]', 'recipe YAML file')
    .option('--set <key=value>', 'override a recipe key (repeatable)', collect, [])
    .option('--out <dir>', 'run folder (default checkpoints/<recipe-name>-<timestamp>)')
    .option('--resume', 'continue the newest checkpoint in --out (or the newest run of this recipe)')
    .addOption(backendOption())
    .option('--threads <n>', 'threads for the native / wasm backends', int)
    .option('--seed <n>', 'shorthand for --set train.seed=N', int)
    .option('--json', 'print the results as one JSON object on the last stdout line')
    .option('--quiet', 'no progress bar')
    .action(async (recipe, opts) => (await import('./pretrain.ts')).pretrainCommand(recipe, opts));

  const ev = program.command('eval').description('evaluate a checkpoint\'s frozen backbone');
  const evalKinds = {
    knn: 'weighted k-NN accuracy', linear: 'linear probe accuracy', fewshot: 'n-way k-shot episodes',
    retrieval: 'leave-one-out retrieval on the test split: P@1, R-precision, MAP@R, Recall@K (+ retrieval.png)',
    verify: 'same/different pairs: ROC AUC, equal error rate, threshold at eval.verify.far -> calibration.json',
  } as const;
  for (const kind of Object.keys(evalKinds) as (keyof typeof evalKinds)[]) {
    ev.command(kind)
      .description(evalKinds[kind])
      .argument('[recipe]', 'recipe YAML file (default: the one saved with the checkpoint)')
      .requiredOption('--checkpoint <path>', 'run folder, its ckpt/ folder, or a ckpt/step-* folder')
      .option('--set <key=value>', 'override a recipe key (repeatable)', collect, [])
      .addOption(backendOption())
      .option('--threads <n>', 'threads for the native / wasm backends', int)
      .option('--out <dir>', 'where to write the report and plots (default: the run folder\'s eval/)')
      .option('--json', 'print the report as one JSON object on the last stdout line')
      .action(async (recipe, opts) => (await import('./eval-command.ts')).evalSubcommand(kind, recipe, opts));
  }

  program.command('export')
    .description('write the backbone as a stock TF.js model (or the embeddings of a dataset, or a static search site)')
    .requiredOption('--checkpoint <path>', 'run folder, its ckpt/ folder, or a ckpt/step-* folder')
    .requiredOption('--out <dir>', 'output folder')
    .addOption(new Option('--format <f>', 'tfjs | embeddings | web').choices(['tfjs', 'embeddings', 'web']).default('tfjs'))
    .option('--index <dir>', 'web: the index folder (from selfsup embed with this checkpoint) the page searches')
    .addOption(new Option('--vectors <dtype>', 'web: how the index vectors are stored').choices(['float16', 'int8']).default('float16'))
    .option('--thumb-size <px>', 'web: thumbnail side in pixels', int, 96)
    .argument('[recipe]', 'recipe YAML file (default: the one saved with the checkpoint)')
    .option('--set <key=value>', 'override a recipe key (repeatable)', collect, [])
    .addOption(backendOption())
    .action(async (recipe, opts) => (await import('./export-command.ts')).exportSubcommand(recipe, opts));

  program.command('serve')
    .description('serve a folder (an exported web site) over http, on 127.0.0.1 by default')
    .argument('<site>', 'folder written by selfsup export --format web')
    .option('--port <n>', 'port (0: any free one)', int, 8080)
    .option('--host <address>', 'address to bind (default 127.0.0.1: this machine only)')
    .action(async (site, opts) => (await import('./serve.ts')).serveSubcommand(site, opts));

  program.command('report')
    .description('one self-contained HTML page for a run: recipe, curves, views, embedding map, final numbers')
    .argument('<run>', 'run folder (with metrics.jsonl)')
    .option('--out <file>', 'HTML file to write (default RUN/report.html)')
    .action(async (run, opts) => (await import('./report.ts')).reportSubcommand(run, opts));

  program.command('views')
    .description('write a PNG grid of originals and their two augmented views')
    .argument('[recipe]', 'recipe YAML file (default: the embedded quickstart)')
    .requiredOption('--out <file>', 'PNG file to write')
    .option('--set <key=value>', 'override a recipe key (repeatable)', collect, [])
    .option('--n <count>', 'number of images', int, 16)
    .option('--seed <n>', 'seed of the views', int)
    .addOption(backendOption())
    .action(async (recipe, opts) => (await import('./views-command.ts')).viewsSubcommand(recipe, opts));

  program.command('embed')
    .description('embed a folder of images (or a recipe\'s data) with a checkpoint\'s frozen backbone into an index folder; reruns update it incrementally')
    .argument('[recipe]', 'recipe YAML whose data source to embed (instead of --images)')
    .option('--checkpoint <path>', 'run folder, its ckpt/ folder, or a ckpt/step-* folder')
    .option('--model <dir>', 'exported TF.js backbone folder (selfsup export --format tfjs, or a run\'s backbone/)')
    .option('--images <dir>', 'folder of images (any format sharp reads); ids are paths relative to it')
    .requiredOption('--out <dir>', 'index folder')
    .addOption(new Option('--engine <name>', 'hnsw | exact | postgres').choices(['hnsw', 'exact', 'postgres']).default('hnsw'))
    .option('--db <url>', 'postgres://... (engine postgres; default $SELFSUP_DB)')
    .option('--table <name>', 'postgres table (default derived from the index folder)')
    .option('--set <key=value>', 'override a key of RECIPE (repeatable)', collect, [])
    .option('--batch-size <n>', 'images per batch and per commit (default 128)', int)
    .option('--connectivity <n>', 'hnsw graph degree', int)
    .option('--expansion-add <n>', 'hnsw candidates while building', int)
    .option('--expansion-search <n>', 'hnsw candidates while searching', int)
    .option('--index-threads <n>', 'hnsw: threads inserting into the graph (default 1: the same graph on every build; 0 = every core)', int)
    .addOption(backendOption())
    .option('--threads <n>', 'threads for the native / wasm backends', int)
    .option('--json', 'print the result as one JSON object on the last stdout line')
    .option('--quiet', 'no progress bar')
    .action(async (recipe, opts) => { await (await import('./embed.ts')).embedSubcommand(recipe, opts); });

  program.command('search')
    .description('nearest neighbours (cosine) in an index of query images or of indexed ids')
    .argument('<index>', 'index folder (from selfsup embed)')
    .option('--image <file...>', 'query image file(s)')
    .option('--images <dir>', 'every image in a folder as a query')
    .option('--id <id...>', 'indexed item(s) as queries (excluded from their own neighbours)')
    .option('-k, --k <n>', 'neighbours per query', int, 10)
    .option('--exact', 'brute force instead of the index engine')
    .option('--json', 'print {"queries":[...]} as one JSON object on the last stdout line')
    .option('--sheet <png>', 'contact sheet: each query, then its neighbours with scores')
    .option('--checkpoint <path>', 'the index\'s model, if its checkpoint moved (fingerprint must match)')
    .option('--model <dir>', 'or an exported TF.js backbone folder of the index\'s model (fingerprint must match)')
    .option('--db <url>', 'postgres://... for postgres indexes (default $SELFSUP_DB)')
    .addOption(backendOption())
    .option('--threads <n>', 'threads for the native / wasm backends', int)
    .action(async (index, opts) => { await (await import('./search.ts')).searchSubcommand(index, opts); });

  program.command('dedup')
    .description('groups of byte-identical and near-duplicate images in an index')
    .argument('<index>', 'index folder (from selfsup embed)')
    .option('--threshold <t>', 'cosine similarity for near-duplicates (default: calibration.json of the model, else 0.9996)', float)
    .option('--k <n>', 'neighbours examined per image (default 16)', int)
    .option('--exact', 'brute force instead of the index engine')
    .option('--json', 'print the groups as one JSON object on the last stdout line')
    .option('--csv <file>', 'write group,kind,id,similarity,identical rows')
    .option('--sheet <png>', 'contact sheet: one row per group')
    .option('--db <url>', 'postgres://... for postgres indexes (default $SELFSUP_DB)')
    .addOption(backendOption())
    .action(async (index, opts) => { await (await import('./dedup.ts')).dedupSubcommand(index, opts); });

  program.command('info')
    .description('backends available and chosen, versions, and why others were skipped')
    .option('--json', 'print as JSON')
    .action(async (opts) => (await import('./info.ts')).infoCommand(opts));

  program.command('bench')
    .description('benchmark the reference training step on every available backend')
    .option('--json', 'print as JSON')
    .option('--peer', 'also run the same step in PyTorch (python3-torch) for a side-by-side ratio')
    .option('--quick', 'fewer steps')
    .option('--backends <list>', 'comma-separated backends to run')
    .option('--threads <n>', 'threads for native / wasm / PyTorch', int)
    .option('--soak <steps>', 'also run N native steps and report resident memory', int)
    .option('--e2e', 'also time end-to-end training (PNG folder, two augmented views, step, logging); with --peer against PyTorch\'s DataLoader + torchvision')
    .action(async (opts) => (await import('./bench-command.ts')).benchSubcommand(opts));

  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version exit 0; usage errors are bad input.
      return e.exitCode === 0 ? 0 : 2;
    }
    if (isUserError(e)) {
      process.stderr.write(`selfsup: ${(e as Error).message}\n`);
      return 2;
    }
    const coded = e as { exitCode?: number; name?: string; message?: string };
    if (coded && typeof coded.exitCode === 'number' && (coded.name === 'Interrupted' || coded.name === 'NonFiniteError' || coded.name === 'Stopped')) {
      process.stderr.write(`selfsup: ${coded.message}\n`);
      return coded.exitCode;
    }
    if ((e as Error)?.message === READ_SYNC_UNSUPPORTED) {
      // Not every path is async yet (the linear probe, host-side miners): the backend choice is the user's to change.
      process.stderr.write(`selfsup: --backend webgpu: this command reads a tensor synchronously, which webgpu cannot do in Node; run it with --backend native (or auto)\n`);
      return 2;
    }
    const errno = (e as NodeJS.ErrnoException)?.code;
    if (errno === 'ENOSPC' || errno === 'EDQUOT') {
      // A full disk is the machine's state, not a bug: one line, exit 1 (writers keep the previous checkpoint / commit intact).
      process.stderr.write(`selfsup: the disk is full (${errno}): ${(e as Error).message}\n`);
      return 1;
    }
    process.stderr.write(`selfsup: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
    return 1;
  }
}

