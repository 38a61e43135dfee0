// Which backend `auto` takes, from fake probe results (no GPU or libtensorflow
// needed), and how a WebGPU adapter is classified.
import { describe, expect, it } from 'vitest';
import { chooseAuto, type BackendProbe } from '../src/backend/index.ts';
import { describeAdapter, gpuDeviceNodes, isCpuEmulation, type AdapterFacts } from '../src/backend/webgpu-adapter.ts';

type Name = BackendProbe['name'];
const ALL: Name[] = ['tensorflow-gpu', 'webgpu', 'native', 'tensorflow', 'wasm', 'cpu'];

/** Probes for every backend: those in `ok` load, those in `emulated` load but are CPU emulations. */
function probes(ok: Name[], emulated: Name[] = []): BackendProbe[] {
  return ALL.map((name) => ({
    name, ok: ok.includes(name) || emulated.includes(name), detail: 'fake',
    ...(emulated.includes(name) ? { notForAuto: true } : {}),
  }));
}

describe('chooseAuto', () => {
  it('takes a real GPU adapter on webgpu ahead of native, wasm and cpu', () => {
    expect(chooseAuto(probes(['webgpu', 'native', 'wasm', 'cpu']))).toBe('webgpu');
  });
  it('passes over webgpu on a CPU emulation (llvmpipe) and takes native', () => {
    expect(chooseAuto(probes(['native', 'wasm', 'cpu'], ['webgpu']))).toBe('native');
  });
  it('passes over an emulated webgpu even when only cpu is left', () => {
    expect(chooseAuto(probes(['cpu'], ['webgpu']))).toBe('cpu');
  });
  it('takes tensorflow-gpu with a CUDA device ahead of everything, and passes it over without one', () => {
    expect(chooseAuto(probes(['tensorflow-gpu', 'tensorflow', 'webgpu', 'native']))).toBe('tensorflow-gpu');
    expect(chooseAuto(probes(['tensorflow', 'webgpu', 'native'], ['tensorflow-gpu']))).toBe('webgpu');
    expect(chooseAuto(probes(['tensorflow', 'native'], ['tensorflow-gpu', 'webgpu']))).toBe('native');
  });
  it('puts native ahead of tfjs-node on CPU, and tfjs-node ahead of wasm', () => {
    expect(chooseAuto(probes(['tensorflow', 'native', 'wasm', 'cpu']))).toBe('native');
    expect(chooseAuto(probes(['tensorflow', 'wasm', 'cpu']))).toBe('tensorflow');
  });
  it('falls through in order when webgpu does not load', () => {
    expect(chooseAuto(probes(['wasm', 'cpu']))).toBe('wasm');
  });
  it('gives nothing when nothing fit for auto loads, and follows its own order, not that of the probes', () => {
    expect(chooseAuto(probes([], ['webgpu']))).toBeUndefined();
    expect(chooseAuto(probes(['cpu', 'webgpu']).reverse())).toBe('webgpu');
  });
});

const facts = (o: Partial<AdapterFacts>): AdapterFacts => ({ vendor: '', architecture: '', device: '', description: '', ...o });

describe('isCpuEmulation', () => {
  it('recognises the software adapters by name or by the fallback flag', () => {
    // Fields as Dawn reported them here for Mesa 25's llvmpipe.
    const llvmpipe = facts({ vendor: 'mesa', architecture: 'software', device: 'llvmpipe-llvm-15-0-6-256-bits-', description: 'llvmpipe: Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6) 0.0.1' });
    expect(isCpuEmulation(llvmpipe)).toBe(true);
    expect(isCpuEmulation(facts({ vendor: 'google', description: 'SwiftShader Device (Subzero)' }))).toBe(true);
    expect(isCpuEmulation(facts({ description: 'lavapipe' }))).toBe(true);
    expect(isCpuEmulation(facts({ vendor: 'nvidia', description: 'unnamed', isFallbackAdapter: true }))).toBe(true);
    expect(describeAdapter(llvmpipe)).toBe('mesa / software: llvmpipe: Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6) 0.0.1 (CPU emulation, not a GPU)');
  });
  it('takes GPUs for GPUs', () => {
    const h200 = facts({ vendor: 'nvidia', architecture: 'hopper', device: '', description: 'NVIDIA H200' });
    expect(isCpuEmulation(h200)).toBe(false);
    expect(isCpuEmulation(facts({ vendor: 'amd', architecture: 'rdna-3', description: 'AMD Radeon RX 7900 XTX (RADV NAVI31)' }))).toBe(false);
    expect(describeAdapter(h200)).toBe('nvidia / hopper: NVIDIA H200 (GPU)');
    expect(describeAdapter(facts({}))).toBe('unknown vendor: no description (GPU)');
  });
});

describe('gpuDeviceNodes', () => {
  const fs = (tree: Record<string, string[]>) => (dir: string) => tree[dir] ?? [];
  it('finds render nodes, NVIDIA and WSL nodes on Linux, and nothing on a machine without a GPU', () => {
    expect(gpuDeviceNodes('linux', fs({ '/dev/dri': ['card0', 'renderD128'], '/dev': ['nvidia0', 'nvidiactl', 'nvidia-uvm', 'null', 'dri'] })))
      .toEqual(['/dev/dri/renderD128', '/dev/nvidia0']);
    expect(gpuDeviceNodes('linux', fs({ '/dev': ['dxg', 'null'] }))).toEqual(['/dev/dxg']);
    expect(gpuDeviceNodes('linux', fs({ '/dev': ['null', 'tty0'] }))).toEqual([]);
  });
  it('does not apply elsewhere (GPUs are not device nodes on macOS or Windows)', () => {
    expect(gpuDeviceNodes('darwin', fs({}))).toBeNull();
    expect(gpuDeviceNodes('win32', fs({}))).toBeNull();
  });
});
