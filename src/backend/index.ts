// Backend choice. The user's stack is TF.js; we pick the fastest backend that
// loads here and say why the others were skipped (`selfsup info`).
// Order for `auto`: tensorflow-gpu > webgpu > native > tensorflow > wasm > cpu,
// where tensorflow-gpu counts only with a CUDA device and webgpu only on a real
// GPU adapter (a CPU emulation such as llvmpipe is usable when named, never
// chosen by `auto`: native is far faster). On CPU native (the one we measure)
// goes ahead of tfjs-node, which stays the fast path where oneDNN is missing.
import * as tf from '@tensorflow/tfjs';
import { readdirSync } from 'node:fs';
import { UserError } from '../util/errors.ts';
import { gpuDeviceNodes } from './webgpu-adapter.ts';

export const BACKEND_NAMES = ['auto', 'tensorflow-gpu', 'tensorflow', 'webgpu', 'native', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];
type Concrete = Exclude<BackendName, 'auto'>;
const AUTO_ORDER: Concrete[] = ['tensorflow-gpu', 'webgpu', 'native', 'tensorflow', 'wasm', 'cpu'];

export interface BackendProbe {
  name: Concrete; ok: boolean; detail: string;
  /** Loads, but `auto` passes it over (webgpu on a CPU emulation of a GPU). */
  notForAuto?: boolean;
}
export interface BackendReport { chosen: Concrete; tfjsBackend: string; probes: BackendProbe[] }
export interface BackendOptions { threads?: number }

type Loaded = { ok: true; detail: string; notForAuto?: boolean } | { ok: false; reason: string };

/** The tfjs backend name each of ours registers. */
const TFJS_NAME: Record<Concrete, string> = {
  'tensorflow-gpu': 'tensorflow', tensorflow: 'tensorflow', webgpu: 'webgpu', native: 'native', wasm: 'wasm', cpu: 'cpu',
};

async function load(name: Concrete, opts: BackendOptions, forAuto = false): Promise<Loaded> {
  try {
    switch (name) {
      case 'tensorflow-gpu':
      case 'tensorflow': {
        const pkg = name === 'tensorflow-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
        try {
          await import(pkg);
        } catch (e) {
          const msg = (e as Error).message.split('\n')[0];
          const missing = name === 'tensorflow-gpu'
            ? `${pkg} is not installed (opt-in, needs CUDA 11.2 + cuDNN 8.1: npm install ${pkg}@4.22.0)`
            : `${pkg} is not installed (optional dependency; its install downloads libtensorflow)`;
          return { ok: false, reason: /Cannot find (module|package)/.test(msg) ? missing : `${pkg} failed to load: ${msg}` };
        }
        if (name === 'tensorflow') return { ok: true, detail: `${pkg} (libtensorflow)` };
        const gpus = cudaDeviceCount();
        return gpus > 0
          ? { ok: true, detail: `${pkg} (libtensorflow, CUDA, ${gpus} NVIDIA GPU(s))` }
          : { ok: true, detail: `${pkg} (libtensorflow, CUDA) loads, but no NVIDIA GPU is visible (/proc/driver/nvidia/gpus)`, notForAuto: true };
      }
      case 'webgpu': {
        if (forAuto && gpuDeviceNodes()?.length === 0) {
          return { ok: false, reason: 'not probed by auto: no GPU device node (/dev/dri/renderD*, /dev/nvidia*, /dev/dxg); --backend webgpu tries it anyway' };
        }
        const { loadWebgpu } = await import('./webgpu.ts');
        const r = await loadWebgpu();
        return r.ok ? { ok: true, detail: r.detail, notForAuto: r.cpuEmulation } : { ok: false, reason: r.reason };
      }
      case 'native': {
        const { loadNative } = await import('./native.ts');
        const r = await loadNative({ threads: opts.threads });
        return r.ok ? { ok: true, detail: r.detail } : { ok: false, reason: r.reason };
      }
      case 'wasm': {
        const { loadWasm } = await import('./wasm.ts');
        const r = await loadWasm({ threads: opts.threads });
        return r.ok ? { ok: true, detail: r.detail } : { ok: false, reason: r.reason };
      }
      case 'cpu':
        return { ok: true, detail: 'TF.js reference cpu backend (plain JS; for tiny runs and tests)' };
    }
  } catch (e) {
    return { ok: false, reason: `failed to load: ${(e as Error).message.split('\n')[0]}` };
  }
}

/** NVIDIA GPUs the kernel driver lists (libtensorflow's GPU build is Linux-only, like this path). */
function cudaDeviceCount(): number {
  try {
    return readdirSync('/proc/driver/nvidia/gpus').length;
  } catch {
    return 0;
  }
}

export function parseBackendName(s: string): BackendName {
  if ((BACKEND_NAMES as readonly string[]).includes(s)) return s as BackendName;
  throw new UserError(`unknown backend '${s}'; valid: ${BACKEND_NAMES.join(', ')}`);
}

/** Probes every backend without choosing one (for `selfsup info`). */
export async function probeBackends(opts: BackendOptions = {}): Promise<BackendProbe[]> {
  const out: BackendProbe[] = [];
  for (const name of AUTO_ORDER) {
    const r = await load(name, opts);
    out.push(toProbe(name, r));
  }
  return out;
}

function toProbe(name: Concrete, r: Loaded): BackendProbe {
  return r.ok ? { name, ok: true, detail: r.detail, ...(r.notForAuto ? { notForAuto: true } : {}) } : { name, ok: false, detail: r.reason };
}

/** The backend `auto` takes given these probes (in AUTO_ORDER): the first that loaded and is fit for auto. */
export function chooseAuto(probes: readonly BackendProbe[]): Concrete | undefined {
  const byName = new Map(probes.map((p) => [p.name, p]));
  return AUTO_ORDER.find((n) => { const p = byName.get(n); return !!p && p.ok && !p.notForAuto; });
}

/** Loads and activates a backend; `auto` takes the first in AUTO_ORDER that loads. */
export async function useBackend(name: BackendName, opts: BackendOptions = {}): Promise<BackendReport> {
  const candidates = name === 'auto' ? AUTO_ORDER : [name];
  const probes: BackendProbe[] = [];
  for (const c of candidates) {
    const r = await load(c, opts, name === 'auto');
    probes.push(toProbe(c, r));
    if (!r.ok) continue;
    if (name === 'auto' && chooseAuto(probes) !== c) continue; // loaded, but not auto's pick (CPU-emulated webgpu)
    const ok = await tf.setBackend(TFJS_NAME[c]);
    if (!ok) { probes[probes.length - 1] = { name: c, ok: false, detail: 'registered but failed to initialise' }; continue; }
    await tf.ready();
    return { chosen: c, tfjsBackend: tf.getBackend(), probes };
  }
  const why = probes.map((p) => `${p.name}: ${p.detail}`).join('; ');
  throw new UserError(`backend '${name}' is not available here (${why})`);
}
