// What a WebGPU adapter is, in the words `selfsup info` prints, and whether it
// is a real GPU. `auto` must not pick a CPU emulation of a GPU (Mesa's
// llvmpipe/lavapipe, Google's SwiftShader): the native backend beats them by far.
import { readdirSync } from 'node:fs';

/** The fields of GPUAdapterInfo we report (all strings may be empty; drivers fill them unevenly). */
export interface AdapterFacts {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** WebGPU's own flag for a software adapter, where the implementation sets it. */
  isFallbackAdapter?: boolean;
}

const SOFTWARE_NAMES = /llvmpipe|lavapipe|swiftshader|softpipe|software|warp|basic render driver/i;

/** True when the adapter runs shaders on the CPU rather than on a GPU. */
export function isCpuEmulation(a: AdapterFacts): boolean {
  if (a.isFallbackAdapter) return true;
  return [a.vendor, a.architecture, a.device, a.description].some((s) => SOFTWARE_NAMES.test(s));
}

/** One line for `selfsup info`, e.g. "mesa / software: llvmpipe: Mesa 25.0.7 (CPU emulation)". */
export function describeAdapter(a: AdapterFacts): string {
  const who = [a.vendor, a.architecture].filter(Boolean).join(' / ') || 'unknown vendor';
  const what = a.description || a.device || 'no description';
  return `${who}: ${what} (${isCpuEmulation(a) ? 'CPU emulation, not a GPU' : 'GPU'})`;
}

/**
 * Device nodes through which a Linux process reaches a GPU: DRM render nodes (AMD, Intel,
 * NVIDIA's open driver, virtio), NVIDIA's proprietary nodes, WSL's /dev/dxg. Without any,
 * no Vulkan driver can offer Dawn a real GPU, so `auto` need not start Dawn at all (which
 * costs time and, on llvmpipe, prints Dawn's limit warnings on every command). Null where
 * the question does not apply (macOS, Windows: their GPUs are not device nodes).
 */
export function gpuDeviceNodes(platform: string = process.platform, list: (dir: string) => string[] = readdirSafe): string[] | null {
  if (platform !== 'linux') return null;
  const dri = list('/dev/dri').filter((f) => f.startsWith('renderD')).map((f) => `/dev/dri/${f}`);
  const dev = list('/dev').filter((f) => /^nvidia\d+$/.test(f) || f === 'dxg').map((f) => `/dev/${f}`);
  return [...dri, ...dev];
}

function readdirSafe(dir: string): string[] {
  try { return readdirSync(dir); } catch { return []; }
}
