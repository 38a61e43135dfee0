// Builds the oneDNN addon when libdnnl is present. Never fails the install: the
// backend chooser reports why native is unavailable instead.
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
const here = dirname(fileURLToPath(import.meta.url));
const status = join(here, 'build-status.json');
function done(ok, reason) {
  try { writeFileSync(status, JSON.stringify({ ok, reason, at: new Date().toISOString() }) + '\n'); } catch {}
  if (!ok) console.warn(`selfsup: native backend not built (${reason}); other backends remain available.`);
  process.exit(0);
}
if (process.env.SELFSUP_SKIP_NATIVE === '1') done(false, 'SELFSUP_SKIP_NATIVE=1');
if (!existsSync(join(here, 'binding.gyp'))) done(false, 'native/binding.gyp missing');
const hdr = ['/usr/include/oneapi/dnnl/dnnl.hpp', '/usr/include/dnnl.hpp', '/usr/local/include/oneapi/dnnl/dnnl.hpp'];
if (!hdr.some((p) => existsSync(p))) done(false, 'oneDNN headers not found (apt-get install libdnnl-dev)');
let gyp;
try { gyp = join(dirname(fileURLToPath(import.meta.resolve('node-gyp/package.json'))), 'bin', 'node-gyp.js'); } catch { gyp = null; }
// Node's own headers ship next to the binary (Debian, nvm, official tarballs);
// using them avoids node-gyp downloading headers, which fails offline.
const prefix = dirname(dirname(process.execPath));
const nodedir = existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
const args = ['rebuild', ...nodedir];
const cmd = gyp && existsSync(gyp) ? [process.execPath, [gyp, ...args]] : ['npx', ['--no-install', 'node-gyp', ...args]];
const r = spawnSync(cmd[0], cmd[1], { cwd: here, stdio: 'inherit' });
if (r.status !== 0) done(false, `node-gyp rebuild failed (exit ${r.status})`);
done(true, 'built');
