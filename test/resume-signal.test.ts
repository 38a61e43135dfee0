// Kill the real process mid-run (graceful SIGTERM during the k-NN monitor, and
// SIGKILL as a crash at an exact step), resume, and check that the resumed run
// started at the checkpoint's step (its log line, the metrics rows, the images
// it trained on) and ends bit-identical to an uninterrupted run. The kill points
// come from test hooks (src/util/test-hooks.ts), not from polling the run's files.
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// 48 images / batch 16 = 3 steps per epoch, 9 steps; the k-NN monitor runs after epoch 2 (step 6).
const tiny = [
  'data.image_size=8', 'data.limit_train=48', 'data.limit_test=32', 'model.widths=[4,8]', 'model.blocks=[1,1]',
  'model.head_hidden=8', 'model.head_out=8', 'train.batch_size=16', 'train.epochs=3', 'train.checkpoint_every=1',
  'eval.knn_k=5', 'eval.every=2', 'eval.batch_size=8', 'log.every=1', 'log.tensorboard=false',
].flatMap((s) => ['--set', s]);
const args = (out: string, ...extra: string[]) => ['bin/selfsup.js', 'pretrain', '--backend', 'cpu', '--quiet', '--out', out, ...tiny, ...extra];
const env = (hooks: string) => ({ ...process.env, SELFSUP_TEST_HOOKS: hooks });

function trainRows(dir: string): number[] {
  return readFileSync(join(dir, 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"kind":"train"')).map((l) => JSON.parse(l).step);
}

function resumed(dir: string) {
  const r = spawnSync(process.execPath, args(dir, '--resume', '--json'), { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return { err: r.stderr, json: JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { steps: number; images: number } };
}

function finalWeights(dir: string): Buffer {
  const last = readdirSync(join(dir, 'ckpt')).filter((d) => d.startsWith('step-')).sort().at(-1)!;
  expect(last).toBe('step-00000009');
  return readFileSync(join(dir, 'ckpt', last, 'tensors.bin'));
}

interface Killed { code: number | null; signal: NodeJS.Signals | null; err: string; exitMs: number; batchesAfterSignal: number }

/**
 * Runs with hook tracing; once the trace shows `point`, sends `signal` (unless the
 * hooks raise it themselves) and measures how long the process takes to exit and
 * how many feature batches it still ran.
 */
function runUntil(out: string, hooks: string, point: string, signal?: NodeJS.Signals): Promise<Killed> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args(out), { stdio: ['ignore', 'pipe', 'pipe'], env: env(`trace,${hooks}`) });
    let err = '';
    let sentAt = 0;
    let after = 0;
    child.stderr.on('data', (d: Buffer) => {
      err += d;
      if (sentAt) after += (String(d).match(/selfsup-hook: batch-features/g) ?? []).length;
      if (!sentAt && err.includes(`selfsup-hook: ${point}\n`)) {
        sentAt = Date.now();
        if (signal) child.kill(signal);
      }
    });
    child.on('exit', (code, sig) => resolve({ code, signal: sig, err, exitMs: Date.now() - sentAt, batchesAfterSignal: after }));
  });
}

describe('interrupted runs resume exactly', () => {
  it('SIGTERM during the k-NN monitor checkpoints and exits 143 at once; SIGKILL at step 5 loses only steps 4-5', async () => {
    const base = mkdtempSync(join(tmpdir(), 'selfsup-kill-'));
    const ref = spawnSync(process.execPath, args(join(base, 'ref')), { encoding: 'utf8' });
    expect(ref.status, ref.stderr).toBe(0);
    const want = finalWeights(join(base, 'ref'));

    // The monitor's 10 feature batches (48 + 32 images, 8 a batch) are made to take 500 ms each (5 s in all): the signal
    // must be seen after the batch in progress, not after the monitor.
    const term = await runUntil(join(base, 'term'), 'slow:batch-features:500', 'phase-knn-monitor', 'SIGTERM');
    expect(term.code, term.err).toBe(143);
    expect(term.err).toMatch(/stopped by SIGTERM after writing .*step-00000006; continue with: selfsup pretrain .*--resume/);
    expect(term.batchesAfterSignal).toBeLessThanOrEqual(2);
    expect(term.exitMs).toBeLessThan(3500);
    expect(trainRows(join(base, 'term'))).toEqual([1, 2, 3, 4, 5, 6]);
    const t2 = resumed(join(base, 'term'));
    expect(t2.err).toMatch(/resuming from .*step-00000006 \(step 6 of 9\)/);
    expect(t2.json.steps).toBe(9);
    expect(t2.json.images).toBe(3 * 16); // steps 7-9 only
    expect(trainRows(join(base, 'term'))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(finalWeights(join(base, 'term')).equals(want)).toBe(true);

    // A crash right after step 5 was logged: the newest checkpoint is step 3 (end of epoch 1).
    const kill = await runUntil(join(base, 'kill'), 'raise:step-5:SIGKILL', 'step-5');
    expect(kill.signal).toBe('SIGKILL');
    expect(trainRows(join(base, 'kill'))).toEqual([1, 2, 3, 4, 5]);
    const k2 = resumed(join(base, 'kill'));
    expect(k2.err).toMatch(/resuming from .*step-00000003 \(step 3 of 9\)/);
    expect(k2.err).toMatch(/taking over the stale lock .*kill\/\.lock \(selfsup pretrain \(pid \d+ .*no such process any more\)/);
    expect(t2.err).not.toMatch(/stale lock/); // SIGTERM released it
    expect(k2.json.images).toBe(6 * 16);
    expect(trainRows(join(base, 'kill'))).toEqual([1, 2, 3, 4, 5, 4, 5, 6, 7, 8, 9]);
    expect(finalWeights(join(base, 'kill')).equals(want)).toBe(true);
  });
});
