// One writer per run folder / index folder (src/util/lock.ts): a live owner is
// named and refused (exit 2), a dead one's lock is taken over with a message, a
// lock from another host is never taken over, and release only removes our own.
import * as tf from '@tensorflow/tfjs';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRecipe } from '../src/recipe/index.ts';
import { pretrain } from '../src/train/trainer.ts';
import { UserError } from '../src/util/errors.ts';
import { acquireLock, parseOwner } from '../src/util/lock.ts';

let sleeper: ChildProcess;
/** A pid that surely existed and is gone. */
let deadPid: number;

beforeAll(async () => {
  await tf.setBackend('cpu');
  sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 600000)'], { stdio: 'ignore' });
  deadPid = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
});
afterAll(() => { sleeper.kill('SIGKILL'); });

const dir = () => mkdtempSync(join(tmpdir(), 'selfsup-lock-'));
const owner = (pid: number, host = hostname()) => JSON.stringify({ pid, host, started: '2026-01-02T03:04:05.000Z', command: 'selfsup pretrain' });
const opts = (log?: (m: string) => void) => ({ what: 'run folder', command: 'selfsup pretrain', log });

describe('folder locks', () => {
  it('writes the owner (pid, host, start time, command) and releases only its own lock', () => {
    const f = join(dir(), '.lock');
    const l = acquireLock(f, opts());
    const o = parseOwner(readFileSync(f, 'utf8'))!;
    expect(o.pid).toBe(process.pid);
    expect(o.host).toBe(hostname());
    expect(o.command).toBe('selfsup pretrain');
    expect(Date.now() - Date.parse(o.started)).toBeLessThan(60_000);
    // Someone else's lock now sits there (ours was taken over): release must leave it.
    writeFileSync(f, owner(sleeper.pid!));
    l.release();
    expect(existsSync(f)).toBe(true);
  });

  it('refuses a second writer while the owner lives, naming it; takes over once it is dead', () => {
    const f = join(dir(), '.lock');
    writeFileSync(f, owner(sleeper.pid!));
    const e = (() => { try { acquireLock(f, opts()); } catch (x) { return x as Error; } })();
    expect(e).toBeInstanceOf(UserError);
    expect(e!.message).toMatch(new RegExp(`is in use by selfsup pretrain \\(pid ${sleeper.pid} on ${hostname()}, since 2026-01-02T03:04:05.000Z\\)`));
    expect(e!.message).not.toContain('\n');

    writeFileSync(f, owner(deadPid));
    const logs: string[] = [];
    const l = acquireLock(f, opts((m) => logs.push(m)));
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(new RegExp(`taking over the stale lock .*\\.lock \\(selfsup pretrain \\(pid ${deadPid} on .*no such process`));
    expect(parseOwner(readFileSync(f, 'utf8'))!.pid).toBe(process.pid);
    l.release();
    expect(existsSync(f)).toBe(false);
  });

  it('never takes over a lock from another host; a torn lock file or a bare pid (old index locks) are understood', () => {
    const f = join(dir(), '.lock');
    writeFileSync(f, owner(deadPid, 'elsewhere.example'));
    expect(() => acquireLock(f, opts())).toThrow(/locked by selfsup pretrain \(pid \d+ on elsewhere\.example.*another host; if that process is gone, delete the lock file/);
    writeFileSync(f, '');
    const logs: string[] = [];
    acquireLock(f, opts((m) => logs.push(m))).release();
    expect(logs[0]).toMatch(/unreadable owner/);
    writeFileSync(f, String(sleeper.pid));
    expect(() => acquireLock(f, { what: 'index folder', command: 'selfsup embed' })).toThrow(/index folder .* is in use by selfsup \(pid \d+/);
  });

  it('pretrain --out refuses a run folder another live pretrain holds, leaking nothing; a dead owner is taken over', async () => {
    const runDir = join(dir(), 'run');
    mkdirSync(runDir);
    writeFileSync(join(runDir, '.lock'), owner(sleeper.pid!));
    const recipe = loadRecipe('recipes/mnist-simclr.yaml', [
      'data.image_size=8', 'data.limit_train=16', 'data.limit_test=16', 'model.widths=[4]', 'model.blocks=[1]',
      'model.head_hidden=8', 'model.head_out=8', 'train.batch_size=16', 'train.epochs=1', 'eval.every=0', 'log.tensorboard=false',
    ]);
    const o = { recipe, runDir, resume: false, backend: 'cpu', quiet: true, exportBackbone: false };
    const before = tf.memory().numTensors;
    await expect(pretrain(o)).rejects.toThrow(new RegExp(`run folder .*run is in use by selfsup pretrain \\(pid ${sleeper.pid} `));
    expect(tf.memory().numTensors).toBe(before);
    expect(existsSync(join(runDir, 'metrics.jsonl'))).toBe(false);

    writeFileSync(join(runDir, '.lock'), owner(deadPid));
    const logs: string[] = [];
    const res = await pretrain({ ...o, log: (l) => logs.push(l) });
    expect(res.steps).toBe(1);
    expect(logs.join('\n')).toMatch(/taking over the stale lock/);
    expect(existsSync(join(runDir, '.lock'))).toBe(false); // released at the end
  });
});
