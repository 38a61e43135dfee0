// The command line's contract: bad input exits 2 with a one-line message naming
// the key / value / path, never a stack trace.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

function selfsup(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/selfsup.js', ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('selfsup CLI bad input', () => {
  it.each([
    [['pretrain', '--set', 'train.epoch=3'], /unknown key 'epoch'.*valid keys: epochs/],
    [['pretrain', '--set', 'train.epochs=abc'], /train\.epochs.*"abc".*integer/],
    [['pretrain', 'no/such/recipe.yaml'], /recipe file not found: no\/such\/recipe\.yaml/],
    [['pretrain', '--backend', 'gpu9000'], /unknown backend 'gpu9000'; valid: auto, tensorflow-gpu, tensorflow, webgpu, native, wasm, cpu/],
    [['pretrain', '--set', 'data.source=cifar10', '--set', 'data.path=/no/such/dir', '--backend', 'cpu', '--out', join(tmpdir(), `selfsup-cli-${process.pid}`)], /\/no\/such\/dir/],
    [['eval', 'knn', '--checkpoint', '/no/such/run'], /\/no\/such\/run/],
    [['pretrain', '--bogus-flag'], /unknown option '--bogus-flag'/],
    [['pretrain', '--backend', 'wasm', '--set', 'train.batch_size=4096', '--out', join(tmpdir(), `selfsup-cli-wasm-${process.pid}`)], /train\.batch_size: 4096 needs about .* GiB .* wasm .* the largest that fits is \d+/],
  ])('%j exits 2 with a clear message', (args, pattern) => {
    const r = selfsup(...args);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(pattern);
    expect(r.err).not.toMatch(/\n\s+at .*\.(ts|js):\d+/); // no stack trace
  });

  it('rejects an unknown key inside a recipe file, naming the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'selfsup-cli-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'model:\n  widht: 3\n');
    const r = selfsup('pretrain', file);
    expect(r.code).toBe(2);
    expect(r.err).toContain('bad.yaml');
    expect(r.err).toMatch(/unknown key 'model\.widht'; valid keys in 'model': backbone, widths/);
  });

  it('prints help with exit 0', () => {
    const r = selfsup('--help');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/pretrain/);
  });
});
