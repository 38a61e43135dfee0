// A full disk while writing a checkpoint (injected: node:fs writeSync fails with
// ENOSPC once a byte budget is spent): the save fails with a message naming the
// checkpoint and the intact previous one, leaves no partial folder, and the
// previous checkpoint still verifies. (By hand on a 200 KiB tmpfs, the CLI printed
// "selfsup: the disk is full (ENOSPC): writing checkpoint .../step-00000006 failed
// ...; the previous checkpoint .../step-00000004 is intact", exit 1, and resumed
// from step 4 once the tmpfs was enlarged.)
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';

const budget = vi.hoisted(() => ({ left: Infinity }));
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const writeSync = ((fd: number, buf: NodeJS.ArrayBufferView | string, ...rest: unknown[]) => {
    const n = typeof buf === 'string' ? Buffer.byteLength(buf) : buf.byteLength;
    if (n > budget.left) {
      const e = new Error('ENOSPC: no space left on device, write') as NodeJS.ErrnoException;
      e.code = 'ENOSPC';
      throw e;
    }
    budget.left -= n;
    return (fs.writeSync as (...a: unknown[]) => number)(fd, buf, ...rest);
  }) as typeof fs.writeSync;
  return { ...fs, writeSync, default: { ...fs, writeSync } };
});

const { listCheckpoints, loadCheckpoint, saveCheckpoint } = await import('../src/train/checkpoint.ts');

beforeAll(async () => { await tf.setBackend('cpu'); });

describe('a full disk while checkpointing', () => {
  it('fails with a clear message, removes the partial checkpoint and keeps the previous one intact', async () => {
    const root = join(mkdtempSync(join(tmpdir(), 'selfsup-enospc-')), 'ckpt');
    const w = tf.variable(tf.randomNormal([64, 64], 0, 1, 'float32', 1));
    const meta = (step: number) => ({ step, epoch: 0, batchInEpoch: step, method: 'simclr', recipe: { name: 't' } });
    await saveCheckpoint(root, meta(1), [{ name: 'w', group: 'param', tensor: w }], 3);
    const saved = Array.from(w.dataSync());
    w.assign(tf.mul(w, 2));
    budget.left = 5000; // less than the 16 KiB of tensors.bin
    const err = await saveCheckpoint(root, meta(2), [{ name: 'w', group: 'param', tensor: w }], 3).then(() => undefined, (e: Error) => e);
    budget.left = Infinity;
    expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
    expect(err!.message).toMatch(/^writing checkpoint .*step-00000002 failed \(ENOSPC: no space left on device, write\); the previous checkpoint .*step-00000001 is intact; free some space and continue with --resume$/);
    expect(readdirSync(root)).toEqual(['step-00000001']);
    expect(listCheckpoints(root)).toHaveLength(1);
    const ck = loadCheckpoint(root);
    expect(ck.verified).toBe(true);
    expect(Array.from(ck.tensors.get('w')!)).toEqual(saved);
    // meta.json itself failing (tensors written, space gone just after) is handled the same way.
    budget.left = 64 * 64 * 4 + 10;
    await expect(saveCheckpoint(root, meta(3), [{ name: 'w', group: 'param', tensor: w }], 3)).rejects.toThrow(/step-00000003 failed .*step-00000001 is intact/);
    budget.left = Infinity;
    expect(readdirSync(root)).toEqual(['step-00000001']);
    w.dispose();
  });
});
