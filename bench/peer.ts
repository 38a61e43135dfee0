// Runs bench/peer_torch.py (PyTorch, same step) as a child process and reads
// its JSON line. PyTorch is optional: when no python3 on the machine imports
// torch, the peer is reported as unavailable.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveBackbone } from '../src/models/resnet.ts';
import type { StepConfig } from './step.ts';

export interface PeerResult {
  ok: boolean;
  reason?: string;
  torch?: string;
  threads?: number;
  channelsLast: boolean;
  msPerStep?: number;
  cpuMsPerStep?: number;
  imgPerSec?: number;
}

const script = join(dirname(fileURLToPath(import.meta.url)), 'peer_torch.py');

/** The first python3 that can import torch (pyenv shims often hide Debian's python3-torch). */
export function findTorchPython(): string | null {
  for (const py of [process.env.SELFSUP_PYTHON, 'python3', '/usr/bin/python3'].filter((p): p is string => !!p)) {
    const r = spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 });
    if (r.status === 0) return py;
  }
  return null;
}

/**
 * glibc's malloc returns PyTorch's big activation buffers to the kernel after every op, and
 * each new one page-faults again: on this VM that made PyTorch's reference step ~5x slower
 * (2.9 s vs 0.56 s at batch 128). A 1 GiB top pad keeps the heap mapped, as tcmalloc or
 * jemalloc would; the peer runs with it.
 */
export const TORCH_ENV = { MALLOC_TOP_PAD_: String(1 << 30) };

export function runPeer(py: string, cfg: StepConfig, o: { steps: number; warmup: number; threads: number; channelsLast: boolean }): PeerResult {
  const b = resolveBackbone(cfg.backbone);
  const args = [script, '--widths', b.widths.join(','), '--blocks', b.blocks.join(','), '--batch', String(cfg.batch),
    '--size', String(cfg.size), '--steps', String(o.steps), '--warmup', String(o.warmup), '--threads', String(o.threads)];
  if (o.channelsLast) args.push('--channels-last');
  const r = spawnSync(py, args, { encoding: 'utf8', timeout: 30 * 60_000, env: { ...process.env, ...TORCH_ENV } });
  if (r.status !== 0) return { ok: false, channelsLast: o.channelsLast, reason: `peer_torch.py failed: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}` };
  const j = JSON.parse(r.stdout.trim().split('\n').pop()!) as { torch: string; threads: number; ms_per_step: number; cpu_ms_per_step: number; img_per_s: number };
  return { ok: true, channelsLast: o.channelsLast, torch: j.torch, threads: j.threads, msPerStep: j.ms_per_step, cpuMsPerStep: j.cpu_ms_per_step, imgPerSec: j.img_per_s };
}
