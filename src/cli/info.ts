// `selfsup info`: which backends load here, which one auto picks, and why the others were skipped.
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpus, totalmem } from 'node:os';
import { chooseAuto, probeBackends } from '../backend/index.ts';
import { PACKAGE_ROOT, printJson } from './common.ts';

export async function infoCommand(o: { json?: boolean }): Promise<void> {
  const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
  const probes = await probeBackends();
  const chosen = chooseAuto(probes) ?? 'none';
  const info = {
    selfsup: pkg.version, tfjs: tf.version.tfjs, node: process.version,
    cpu: `${cpus().length} x ${cpus()[0]?.model ?? '?'}`, memory_gib: +(totalmem() / 2 ** 30).toFixed(1),
    auto_backend: chosen, backends: probes,
  };
  if (o.json) { printJson(info); return; }
  const lines = [
    `selfsup ${info.selfsup}  tfjs ${info.tfjs}  node ${info.node}`,
    `cpu: ${info.cpu}, ${info.memory_gib} GiB`,
    `backends (auto picks the first available, in this order; * = loads, but auto skips it):`,
    ...probes.map((p) => `  ${p.ok ? (p.notForAuto ? 'yes*' : 'yes ') : 'no  '} ${p.name.padEnd(15)} ${p.detail}`),
    `auto -> ${chosen}`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
}
