// Mistakes users make on the command line: each exits 2 with one line naming the
// option / file / value (no stack trace, no help dump), before any expensive work,
// and leaves what was written intact. Most cases go through main() in this process
// (the exit code and stderr the command would give, without a second's start-up per
// case); a few run the real `selfsup` process to show it end to end. (Unknown recipe
// keys, corrupt index files, fingerprint mismatches and the like are in cli.test.ts,
// search-cli.test.ts and the eval CLI tests.)
import * as tf from '@tensorflow/tfjs';
import { createServer, type Server } from 'node:net';
import { mkdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RECIPE } from '../src/cli/common.ts';
import { embedImages } from '../src/search/embed.ts';
import { NonFiniteError } from '../src/train/signals.ts';
import { TINY_SETS, name, pictureFolder, tempDir, tinyCheckpoint } from './search-fixtures.ts';
import { cli, divergedCheckpoint, spawned, STACK, type Run } from './cli-run.ts';

/** Exit 2, the last stderr line is `selfsup: ...` matching `pattern`, no stack trace. */
function expectUserError(r: Run, pattern: RegExp, what: string): void {
  expect(r.code, `${what}\n${r.err}`).toBe(2);
  const lines = r.err.trim().split('\n');
  expect(lines.at(-1), what).toMatch(/^selfsup: /);
  expect(lines.at(-1), what).toMatch(pattern);
  expect(r.err, what).not.toMatch(STACK);
}

/** Runs [args, pattern] cases through main(), one after the other, and checks each. */
async function expectAll(cases: [string[], RegExp][]): Promise<Run[]> {
  const results: Run[] = [];
  for (const [args, pattern] of cases) {
    const r = await cli(...args);
    expectUserError(r, pattern, args.join(' '));
    results.push(r);
  }
  return results;
}

/** The same through real processes, side by side. */
async function expectAllSpawned(cases: [string[], RegExp][]): Promise<Run[]> {
  const results = await Promise.all(cases.map(([args]) => spawned(args)));
  results.forEach((r, i) => expectUserError(r, cases[i][1], cases[i][0].join(' ')));
  return results;
}

describe('selfsup command-line mistakes', () => {
  let run: string; // a tiny checkpoint's run folder
  let diverged: string;
  let images: string;
  let index: string;
  let tmp: string;
  let file: string; // a plain file, where folders are expected
  beforeAll(async () => {
    await tf.setBackend('cpu');
    ({ run } = await tinyCheckpoint('mistakes'));
    diverged = await divergedCheckpoint('selfsup-mistakes-diverged-');
    images = await pictureFolder(3, 'selfsup-mistakes-img-');
    tmp = tempDir('selfsup-mistakes-');
    index = join(tmp, 'idx');
    await embedImages({ checkpoint: run, images, out: index, engine: 'exact', quiet: true, log: () => {} });
    file = join(tmp, 'a-file.txt');
    writeFileSync(file, 'not a folder\n');
  });

  it('number options: not an integer, not a number, named with the value typed', async () => {
    await expectAll([
      // parseInt took 1.5 as 1 and searched; --seed 1.5 became seed 1.
      [['search', index, '--id', name(0), '-k', '1.5', '--backend', 'cpu'], /option '-k, --k <n>' argument '1\.5' is invalid\. expected an integer/],
      [['pretrain', '--seed', '1.5', '--backend', 'cpu'], /option '--seed <n>' argument '1\.5' is invalid/],
      // 'abc' reached the range check as NaN ("got NaN").
      [['dedup', index, '--threshold', 'abc', '--backend', 'cpu'], /option '--threshold <t>' argument 'abc' is invalid\. expected a number/],
      [['serve', tmp, '--port', '80x'], /option '--port <n>' argument '80x' is invalid/],
    ]);
  });

  it('usage errors are one line, without the help text after them; extra arguments are refused', async () => {
    // Through the real process: its whole stderr is the one line.
    const rs = await expectAllSpawned([
      [['pretrain', '--out'], /option '--out <dir>' argument missing/],
      [['search', index, '--backnd', 'cpu'], /unknown option '--backnd' \(Did you mean --backend\?\)/],
    ]);
    for (const r of rs) expect(r.err.trim().split('\n')).toHaveLength(1);
    // A second RECIPE / RUN_DIR was silently dropped.
    await expectAll([
      [['report', run, join(tmp, 'other-run')], /too many arguments for 'report'/],
      [['pretrain', DEFAULT_RECIPE, DEFAULT_RECIPE], /too many arguments for 'pretrain'/],
    ]);
  });

  it('output paths: a file in the way, a folder where a file goes, checked before any work', async () => {
    const sheetDir = join(tmp, 'sheet-dir.png');
    mkdirSync(sheetDir);
    await expectAll([
      [['embed', '--checkpoint', run, '--images', images, '--out', file, '--backend', 'cpu'], /--out .*a-file\.txt: is a file, not a folder/],
      [['export', '--checkpoint', run, '--out', join(file, 'model'), '--backend', 'cpu'], /--out .*a-file\.txt\/model: .*a-file\.txt is a file, so nothing can be written under it/],
      [['export', '--format', 'web', '--checkpoint', run, '--index', index, '--out', file, '--backend', 'cpu'], /--out .*a-file\.txt: is a file, not a folder/],
      [['eval', 'knn', '--checkpoint', run, '--out', file, '--backend', 'cpu'], /--out .*a-file\.txt: is a file, not a folder/],
      [['views', '--out', sheetDir, '--backend', 'cpu'], /--out .*sheet-dir\.png: is a folder; give the path of a file/],
      [['search', index, '--id', name(0), '--sheet', join(file, 's.png'), '--backend', 'cpu'], /--sheet .*a-file\.txt is a file, so nothing can be written under it/],
      [['dedup', index, '--csv', tmp, '--backend', 'cpu'], /--csv .*: is a folder; give the path of a file/],
      [['report', run, '--out', join(file, 'r.html')], /--out .*a-file\.txt is a file, so nothing can be written under it/],
      [['pretrain', '--out', file, '--backend', 'cpu'], /--out .*a-file\.txt: is a file, not a folder/],
    ]);
  });

  it.runIf(process.platform === 'linux')('an output folder that cannot be created (here under /proc) is named, not an endless mkdir', async () => {
    await expectAllSpawned([
      [['export', '--checkpoint', run, '--out', '/proc/selfsup-no-such-dir', '--backend', 'cpu'], /--out \/proc\/selfsup-no-such-dir: cannot write in \/proc \(E[A-Z]+\); give a writable location/],
    ]);
  });

  it('pretrain --out a folder holding a run, without --resume, refuses and leaves the checkpoint as it was', async () => {
    const ckpt = join(run, 'ckpt', 'step-00000001', 'tensors.bin');
    const before = readFileSync(ckpt);
    const [r] = await expectAll([
      [['pretrain', '--out', run, '--backend', 'cpu', ...TINY_SETS.flatMap((s) => ['--set', s]),
        '--set', 'data.limit_train=64', '--set', 'data.limit_test=64', '--set', 'train.batch_size=32', '--set', 'train.epochs=1'],
      /--out .*: already holds a run \(.*step-00000001\); add --resume to continue it, or give a new --out folder/],
    ]);
    expect(r.out).toBe('');
    expect(readFileSync(ckpt).equals(before)).toBe(true);
  });

  it('bad values of bench and export options are refused before the work starts', async () => {
    await expectAll([
      // bench ran for minutes, listed gpu9 as skipped and exited 0.
      [['bench', '--quick', '--backends', 'native,gpu9'], /--backends: 'gpu9' is not a backend; valid: tensorflow-gpu, tensorflow, webgpu, native, wasm, cpu/],
      [['bench', '--quick', '--threads', '0'], /--threads: expected a positive integer, got 0/],
      // The site was written with a warning per thumbnail and exit 0.
      [['export', '--format', 'web', '--checkpoint', run, '--index', index, '--out', join(tmp, 'site0'), '--thumb-size', '0', '--backend', 'cpu'], /--thumb-size: expected an integer number of pixels in \[8, 1024\], got 0/],
      // A folder given to --image was "an undecodable image".
      [['search', index, '--image', images, '--backend', 'cpu'], /--image: .* is a folder; give image files, or the folder with --images DIR/],
    ]);
  });

  it('a diverged checkpoint (finite weights, NaN outputs) is named by eval, export and embed', async () => {
    const ck = `${diverged}/ckpt/step-00000001`;
    const named = /gives non-finite outputs \(NaN or Infinity\): its weights diverged in training; .*lower optim\.lr/;
    await expectAll([
      // eval crashed in UMAP (Maximum call stack size exceeded), exit 1.
      [['eval', 'retrieval', '--checkpoint', diverged, '--out', join(tmp, 'ev'), '--backend', 'cpu'], new RegExp(`checkpoint ${ck} ${named.source}`)],
      // embed blamed the index: "corrupt index vectors (row 0 has squared norm NaN ...); rebuild with selfsup embed".
      [['embed', '--checkpoint', diverged, '--images', images, '--out', join(tmp, 'idx-diverged'), '--backend', 'cpu'], new RegExp(`model .*step-00000001 ${named.source}`)],
    ]);
    // export: "internal error: rebuilt model differs from the backbone (max relative difference NaN ...)", exit 1.
    await expectAllSpawned([
      [['export', '--checkpoint', diverged, '--out', join(tmp, 'x'), '--backend', 'cpu'], new RegExp(`checkpoint ${ck} ${named.source}`)],
    ]);
    // A NaN loss is fixed in the recipe (optim.lr), so it is bad input too.
    expect(new NonFiniteError('loss is NaN', 3, undefined, 'Try a lower optim.lr.').exitCode).toBe(2);
  });

  describe('mistakes that were already handled (kept that way)', () => {
    let busy: Server;
    afterAll(() => new Promise<void>((resolve) => { if (busy) busy.close(() => resolve()); else resolve(); }));

    it('a truncated checkpoint, an index with a garbage manifest, serve on a port in use', async () => {
      const broken = await tinyCheckpoint('mistakes-truncated');
      const bin = join(broken.run, 'ckpt', 'step-00000001', 'tensors.bin');
      truncateSync(bin, Math.floor(statSync(bin).size / 2));
      const garbage = join(tmp, 'idx-garbage');
      mkdirSync(garbage);
      writeFileSync(join(garbage, 'manifest.json'), '{not json');
      const site = join(tmp, 'site-ok');
      mkdirSync(site);
      writeFileSync(join(site, 'index.html'), '<!doctype html>');
      busy = createServer();
      await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', () => resolve()));
      const port = (busy.address() as { port: number }).port;
      await expectAll([
        [['export', '--checkpoint', broken.run, '--out', join(tmp, 'x2'), '--backend', 'cpu'], /checkpoint .*step-00000001 is corrupt: tensors\.bin has \d+ bytes, meta\.json says \d+/],
        [['dedup', garbage, '--backend', 'cpu'], /idx-garbage\/manifest\.json: unreadable index manifest/],
        [['serve', site, '--port', String(port)], new RegExp(`--port ${port}: already in use on 127\\.0\\.0\\.1; pick another with --port`)],
        [['serve', site, '--port', '99999'], /--port: expected an integer 0\.\.65535, got 99999/],
      ]);
    });
  });
});
