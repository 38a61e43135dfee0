// A throwaway PostgreSQL server for the postgres engine's tests: initdb into a
// temporary folder, listen on 127.0.0.1 (a free port, password auth, so the
// tests can exercise a wrong password) and on a unix socket inside the same
// folder (trust), stop it and delete the folder at the end. PostgreSQL refuses
// to run as root, so as root every server command runs as the `postgres` user.
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

export interface PgServer {
  /** postgres://USER:PASSWORD@127.0.0.1:PORT/postgres (password auth over TCP). */
  url: string;
  user: string;
  password: string;
  port: number;
  /** Folder holding the unix socket (trust auth). */
  socketDir: string;
  /** Whether `CREATE EXTENSION vector` is possible (pgvector installed for this server's version). */
  hasVector: boolean;
  version: string;
  stop(): void;
}

/** Highest installed Debian-layout PostgreSQL (or SELFSUP_PG_BIN), or null. */
export function findPgBin(): string | null {
  const env = process.env.SELFSUP_PG_BIN;
  if (env) return existsSync(join(env, 'initdb')) ? env : null;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')) && existsSync(join(root, v, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length ? join(root, versions[0], 'bin') : null;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Starts a server; throws an Error saying what is missing or what failed (with the server log). */
export async function startPgServer(): Promise<PgServer> {
  const bin = findPgBin();
  if (!bin) throw new Error('no PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql/*/bin; apt-get install postgresql-15');
  const asRoot = process.getuid?.() === 0;
  let owner: { uid: number; gid: number } | null = null;
  if (asRoot) {
    try {
      owner = { uid: Number(execFileSync('id', ['-u', 'postgres']).toString()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString()) };
    } catch {
      throw new Error('running as root and there is no `postgres` user to run the server as');
    }
  }
  // Short path: the unix socket path must stay under 107 bytes.
  const dir = mkdtempSync(join(tmpdir(), 'selfsup-pg-'));
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const run = (cmd: string, args: string[]) => {
    const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args]] : [join(bin, cmd), args];
    const r = spawnSync(file, argv, { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0) throw new Error(`${cmd} failed (${r.status ?? r.signal}): ${(r.stderr || r.stdout || String(r.error ?? '')).trim()}`);
    return r.stdout;
  };
  const data = join(dir, 'data');
  const log = join(dir, 'server.log');
  const user = 'selfsup';
  const password = `pw-${Math.floor(Date.now() % 1e9)}-secret`;
  let started = false;
  const stop = () => {
    if (started) {
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        /* already gone */
      }
      started = false;
    }
    rmSync(dir, { recursive: true, force: true });
    process.off('exit', stop);
  };
  // A crashed test run must not leave a server behind.
  process.on('exit', stop);
  try {
    const pwfile = join(dir, 'pw');
    writeFileSync(pwfile, password + '\n', { mode: 0o600 });
    if (owner) chownSync(pwfile, owner.uid, owner.gid);
    run('initdb', ['-D', data, '-U', user, `--pwfile=${pwfile}`, '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--no-sync']);
    rmSync(pwfile);
    const port = await freePort();
    const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`;
    started = true;
    run('pg_ctl', ['-D', data, '-l', log, '-o', opts, '-w', '-t', '60', 'start']);
    const psql = (sql: string) =>
      run('psql', ['-h', dir, '-p', String(port), '-U', user, '-d', 'postgres', '-Atqc', sql]).trim();
    const version = psql('show server_version');
    const hasVector = psql("select count(*) from pg_available_extensions where name = 'vector'") === '1';
    return { url: `postgres://${user}:${password}@127.0.0.1:${port}/postgres`, user, password, port, socketDir: dir, hasVector, version, stop };
  } catch (e) {
    const tail = existsSync(log) ? readFileSync(log, 'utf8').split('\n').slice(-10).join('\n') : '';
    stop();
    throw new Error(`${(e as Error).message}${tail ? `\nserver log:\n${tail}` : ''} (as ${userInfo().username})`);
  }
}
