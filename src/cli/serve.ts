// `selfsup serve SITE [--port N] [--host H]`: a static file server for an
// exported site (or a report), bound to 127.0.0.1 unless told otherwise.
// Files are served by `sirv` (path traversal, ranges, ETags, MIME types
// including application/wasm, which browsers require for streaming compile)
// over node:http; this file only checks the folder and the port.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import sirv from 'sirv';
import { UserError } from '../util/errors.ts';

export interface StaticServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startServer(dir: string, opts: { port?: number; host?: string } = {}): Promise<StaticServer> {
  const root = path.resolve(dir);
  if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) throw new UserError(`${dir}: not a folder; give the folder written by selfsup export --format web`);
  if (!fs.existsSync(path.join(root, 'index.html'))) throw new UserError(`${dir}: no index.html in it; give the folder written by selfsup export --format web`);
  const port = opts.port ?? 8080;
  if (!(Number.isInteger(port) && port >= 0 && port <= 65535)) throw new UserError(`--port: expected an integer 0..65535, got ${port}`);
  const host = opts.host ?? '127.0.0.1';
  // dev: stat on every request, so a re-exported site is served as it is now.
  const serve = sirv(root, { dev: true, etag: true, dotfiles: false });
  const server = http.createServer((req, res) => serve(req, res, () => {
    res.statusCode = 404;
    res.end('not found');
  }));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'EADDRINUSE'
      ? new UserError(`--port ${port}: already in use on ${host}; pick another with --port`)
      : e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND' ? new UserError(`--host ${host}: not an address of this machine`) : e));
    server.listen(port, host, () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${actual}/`,
    port: actual,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

export async function serveSubcommand(dir: string, o: { port?: number; host?: string }): Promise<void> {
  const s = await startServer(dir, o);
  process.stdout.write(`serving ${path.resolve(dir)} at ${s.url} (Ctrl-C to stop)\n`);
  await new Promise<void>((resolve) => {
    const stop = () => { void s.close().then(resolve); };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
