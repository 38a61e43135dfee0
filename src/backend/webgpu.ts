// The TF.js WebGPU backend in Node, on Dawn (npm `webgpu`, which ships a
// prebuilt dawn.node). Both packages are optional dependencies. Dawn needs a
// Vulkan driver: a GPU's, or Mesa's llvmpipe (a CPU emulation, recent Mesa only;
// Debian 12 has it in bookworm-backports). Registers the backend as 'webgpu';
// activating it (tf.setBackend) is the caller's job. Tensors on it cannot be
// read with dataSync in Node (tfjs's readSync needs OffscreenCanvas): use data().
import { describeAdapter, isCpuEmulation, type AdapterFacts } from './webgpu-adapter.ts';

export type WebgpuLoadResult =
  | { ok: true; detail: string; adapter: AdapterFacts; cpuEmulation: boolean }
  | { ok: false; reason: string };

const NO_ADAPTER_HINT = 'Dawn found no WebGPU adapter: no Vulkan driver it can use (on Debian 12: add bookworm-backports to apt\'s sources, then `apt-get install -t bookworm-backports mesa-vulkan-drivers` for a CPU adapter; Mesa 22.3 is too old)';

let loading: Promise<WebgpuLoadResult> | undefined;

/** Loads Dawn and the tfjs webgpu backend once; later calls get the same answer. */
export function loadWebgpu(): Promise<WebgpuLoadResult> {
  loading ??= load();
  return loading;
}

function firstLine(e: unknown): string {
  return (e as Error).message.split('\n')[0];
}

async function importOptional<T>(pkg: string): Promise<T | string> {
  try {
    return (await import(pkg)) as T;
  } catch (e) {
    const msg = firstLine(e);
    return /Cannot find (module|package)/.test(msg) ? `${pkg} is not installed (optional dependency)` : `${pkg} failed to load: ${msg}`;
  }
}

type Dawn = { create(flags: string[]): GPULike; globals: Record<string, unknown> };
interface GPULike { requestAdapter(o?: { powerPreference?: string }): Promise<AdapterLike | null> }
interface AdapterLike { info?: Partial<AdapterFacts>; isFallbackAdapter?: boolean }

/** tfjs-backend-webgpu looks for navigator.gpu when it is imported (Node 21+ has a navigator, 20 has none). */
function installNavigatorGpu(gpu: GPULike): void {
  const g = globalThis as { navigator?: { gpu?: unknown } };
  if (g.navigator === undefined) {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  } else if (!g.navigator.gpu) {
    Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  }
}

interface SyncReader { readSync(dataId: object): unknown }

export const READ_SYNC_UNSUPPORTED = 'the webgpu backend cannot read a tensor synchronously in Node (dataSync/arraySync need a browser\'s OffscreenCanvas); read it with await data() / array(), or train on another backend';

/** tfjs's readSync fails in Node with "OffscreenCanvas is not defined"; say what is going on instead. */
function explainReadSync(proto: SyncReader): void {
  const original = proto.readSync;
  proto.readSync = function (this: SyncReader, dataId: object) {
    try {
      return original.call(this, dataId);
    } catch (e) {
      if (typeof (globalThis as { OffscreenCanvas?: unknown }).OffscreenCanvas === 'undefined') throw new Error(READ_SYNC_UNSUPPORTED);
      throw e;
    }
  };
}

async function load(): Promise<WebgpuLoadResult> {
  const dawn = await importOptional<Dawn>('webgpu');
  if (typeof dawn === 'string') return { ok: false, reason: dawn };
  // GPUBufferUsage, GPUMapMode, ... are globals in a browser; the backend uses them as such.
  for (const [k, v] of Object.entries(dawn.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  const gpu = dawn.create([]);
  let adapter: AdapterLike | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    return { ok: false, reason: `Dawn's requestAdapter failed: ${firstLine(e)}` };
  }
  if (!adapter) return { ok: false, reason: NO_ADAPTER_HINT };
  const info = adapter.info ?? {};
  const facts: AdapterFacts = {
    vendor: info.vendor ?? '', architecture: info.architecture ?? '', device: info.device ?? '', description: info.description ?? '',
    isFallbackAdapter: info.isFallbackAdapter ?? adapter.isFallbackAdapter,
  };
  installNavigatorGpu(gpu);
  const tfwebgpu = await importOptional<{ WebGPUBackend: { prototype: SyncReader } }>('@tensorflow/tfjs-backend-webgpu');
  if (typeof tfwebgpu === 'string') return { ok: false, reason: tfwebgpu };
  explainReadSync(tfwebgpu.WebGPUBackend.prototype);
  // No training shims: unlike wasm, tfjs-backend-webgpu 4.22 has every kernel a SimCLR step needs
  // (both convolution gradients, UnsortedSegmentSum), and test/webgpu.test.ts finds them right.
  return { ok: true, detail: `TF.js webgpu on Dawn, adapter ${describeAdapter(facts)}`, adapter: facts, cpuEmulation: isCpuEmulation(facts) };
}
