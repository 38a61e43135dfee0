// With the addon forced off (SELFSUP_NATIVE=0, as when libdnnl is missing) the
// native backend reports why and never registers, and auto picks another one.
// Its own file: the addon must never have been loaded in this process.
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { loadNative, nativeBackend } from '../src/backend/native.ts';
import { useBackend } from '../src/backend/index.ts';

afterAll(async () => { await tf.setBackend('cpu'); });

describe('native backend forced off', () => {
  it('loadNative says why, and auto picks another backend', async () => {
    process.env.SELFSUP_NATIVE = '0';
    try {
      const r = await loadNative({});
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.reason).toMatch(/SELFSUP_NATIVE=0/);
      const report = await useBackend('auto', { threads: 1 });
      expect(report.chosen).not.toBe('native');
      expect(report.probes.find((p) => p.name === 'native')?.detail).toMatch(/SELFSUP_NATIVE=0/);
      expect(nativeBackend() === null).toBe(true);
      expect(tf.findBackendFactory('native')).toBeNull();
    } finally {
      delete process.env.SELFSUP_NATIVE;
    }
  });
});

