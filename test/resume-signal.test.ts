// Kill the real process mid-run (graceful SIGTERM, and SIGKILL as a crash), resume,
// and the final weights are bit-identical to an uninterrupted run.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const tiny = [
  'data.image_size=10', 'data.limit_train=96', 'data.limit_test=32', 'model.widths=[4,8]', 'model.blocks=[1,1]',
  'model.head_hidden=8', 'model.head_out=8', 'train.batch_size=32', 'train.epochs=3', 'train.checkpoint_every=1',
  'eval.knn_k=5', 'log.every=1', 'log.tensorboard=false',
].flatMap((s) => ['--set', s]);
const args = (out: string, ...extra: string[]) => ['bin/selfsup.js', 'pretrain', '--backend', 'cpu', '--quiet', '--out', out, ...tiny, ...extra];

function trainSteps(dir: string): number {
  const p = join(dir, 'metrics.jsonl');
  if (!existsSync(p)) return 0;
  return readFileSync(p, 'utf8').split('\n').filter((l) => l.includes('"kind":"train"')).length;
}

/** Starts a run and sends `signal` once it has logged `afterSteps` steps. */
function runAndKill(out: string, signal: NodeJS.Signals, afterSteps: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args(out), { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => { err += d; });
    const timer = setInterval(() => { if (trainSteps(out) >= afterSteps) { clearInterval(timer); child.kill(signal); } }, 50);
    child.on('exit', (code, sig) => { clearInterval(timer); resolve({ code, signal: sig, err }); });
  });
}

function finalWeights(dir: string): Buffer {
  const r = spawnSync('ls', [join(dir, 'ckpt')], { encoding: 'utf8' });
  const last = r.stdout.trim().split('\n').sort().at(-1)!;
  expect(last).toBe('step-00000009');
  return readFileSync(join(dir, 'ckpt', last, 'tensors.bin'));
}

describe('interrupted runs resume exactly', () => {
  it('SIGTERM checkpoints and exits 143; SIGKILL loses only the steps since the last checkpoint', async () => {
    const base = mkdtempSync(join(tmpdir(), 'selfsup-kill-'));
    const ref = spawnSync(process.execPath, args(join(base, 'ref')), { encoding: 'utf8' });
    expect(ref.status).toBe(0);
    const want = finalWeights(join(base, 'ref'));

    const term = await runAndKill(join(base, 'term'), 'SIGTERM', 2);
    expect(term.code).toBe(143);
    expect(term.err).toMatch(/stopped by SIGTERM after writing .*step-0000000\d; continue with: selfsup pretrain .*--resume/);
    const t2 = spawnSync(process.execPath, args(join(base, 'term'), '--resume'), { encoding: 'utf8' });
    expect(t2.status).toBe(0);
    expect(t2.stderr).toMatch(/resuming from .*step-0000000\d/);
    expect(finalWeights(join(base, 'term')).equals(want)).toBe(true);

    const kill = await runAndKill(join(base, 'kill'), 'SIGKILL', 5);
    expect(kill.signal).toBe('SIGKILL');
    const k2 = spawnSync(process.execPath, args(join(base, 'kill'), '--resume'), { encoding: 'utf8' });
    expect(k2.status).toBe(0);
    expect(finalWeights(join(base, 'kill')).equals(want)).toBe(true);
  });
});
