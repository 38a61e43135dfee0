// What a WebGPU adapter is, in the words `selfsup info` prints, and whether it
// is a real GPU. `auto` must not pick a CPU emulation of a GPU (Mesa's
// llvmpipe/lavapipe, Google's SwiftShader): the native backend beats them by far.

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
