// One writer per folder: a lock file naming its owner (pid, host, start time,
// command). A second writer is refused with the owner named; a lock left by a
// process that died (kill -9, power loss) on this host is taken over with a
// message. A lock from another host (a shared file system) cannot be checked
// and is never taken over automatically: the message says which file to delete.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { UserError } from './errors.ts';

export interface LockOwner { pid: number; host: string; started: string; command: string }

export interface HeldLock {
  readonly file: string;
  /** Removes the lock file if it is still ours. Safe to call twice. */
  release(): void;
}

export interface LockOptions {
  /** What the folder is, for messages: 'run folder', 'index folder'. */
  what: string;
  /** Who takes the lock, for the next writer's message: 'selfsup pretrain'. */
  command: string;
  /** Where the take-over of a stale lock is reported. */
  log?: (msg: string) => void;
}

export function acquireLock(file: string, o: LockOptions): HeldLock {
  const me: LockOwner = { pid: process.pid, host: hostname(), started: new Date().toISOString(), command: o.command };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      // 'wx' fails if the file exists: creating it is the atomic test-and-set.
      writeFileSync(file, JSON.stringify(me) + '\n', { flag: 'wx' });
      return held(file, me);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let text: string;
    try { text = readFileSync(file, 'utf8'); } catch { continue; } // released meanwhile: try again
    const owner = parseOwner(text);
    if (owner && owner.host !== me.host) {
      throw new UserError(`${file}: the ${o.what} is locked by ${describe(owner)}, on another host; if that process is gone, delete the lock file`);
    }
    if (owner && owner.pid !== process.pid && alive(owner.pid)) {
      throw new UserError(`the ${o.what} ${dirOf(file)} is in use by ${describe(owner)}; wait for it to finish or stop it (lock: ${file})`);
    }
    // Only remove what we judged stale: another process may have taken it over since.
    if (existsSync(file) && readSafe(file) === text) rmSync(file, { force: true });
    o.log?.(`note: taking over the stale lock ${file} (${owner ? `${describe(owner)}; no such process any more` : 'unreadable owner'})`);
  }
  throw new UserError(`${file}: could not lock the ${o.what} (other processes keep taking it)`);
}

function held(file: string, me: LockOwner): HeldLock {
  let released = false;
  return {
    file,
    release() {
      if (released) return;
      released = true;
      const owner = parseOwner(readSafe(file) ?? '');
      if (owner && owner.pid === me.pid && owner.started === me.started) rmSync(file, { force: true });
    },
  };
}

/** The owner in a lock file; a bare pid (the first index lock format) counts as this host's. */
export function parseOwner(text: string): LockOwner | undefined {
  const t = text.trim();
  if (/^\d+$/.test(t)) return { pid: Number(t), host: hostname(), started: '?', command: 'selfsup' };
  try {
    const o = JSON.parse(t) as Partial<LockOwner>;
    if (Number.isInteger(o.pid) && (o.pid as number) > 0 && typeof o.host === 'string') {
      return { pid: o.pid as number, host: o.host, started: String(o.started ?? '?'), command: String(o.command ?? 'selfsup') };
    }
  } catch { /* torn or foreign: no owner */ }
  return undefined;
}

function describe(o: LockOwner): string {
  return `${o.command} (pid ${o.pid} on ${o.host}, since ${o.started})`;
}

function dirOf(file: string): string {
  return file.replace(/\/[^/]+$/, '');
}

function readSafe(file: string): string | undefined {
  try { return readFileSync(file, 'utf8'); } catch { return undefined; }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
