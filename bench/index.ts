// `npm run bench` / `selfsup bench`: the reference SimCLR step on every
// available backend (img/s, ms/step, GFLOP/s, % of the machine's measured
// sgemm peak, kernels and tensors per step), optionally against PyTorch run in
// the same invocation (--peer), plus the augmentation and loader benchmarks
// when those modules exist; with --e2e also end-to-end training (bench/e2e.ts). Direct use:
// npx tsx bench/index.ts [--peer] [--quick] [--json] [--backends native,wasm] [--threads N] [--soak STEPS] [--e2e]
import * as tf from '@tensorflow/tfjs';
import os from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { useBackend, type BackendName } from '../src/backend/index.ts';
import { nativeBackend } from '../src/backend/native.ts';
import { findTorchPython, runPeer, type PeerResult } from './peer.ts';
import { REFERENCE, RESNET18, buildStep, stepFlops, timeEvalForward, timeStep, type EvalForwardTiming, type StepConfig, type StepTiming } from './step.ts';

export interface BenchOptions {
  json: boolean;
  peer: boolean;
  backends?: string[];
  quick?: boolean;
  /** Threads for native, wasm and the PyTorch peer; default: every core. */
  threads?: number;
  /** Also run this many native steps and report resident memory over them. */
  soak?: number;
  /** Also run the end-to-end row (bench/e2e.ts): pretrain() on a PNG folder vs PyTorch's DataLoader pipeline. */
  e2e?: boolean;
}

interface Row {
  workload: string;
  backend: string;
  batch: number;
  ok: boolean;
  reason?: string;
  timing?: Omit<StepTiming, 'profile'>;
  profile?: StepTiming['profile'];
  pctPeak?: number;
  /** Percent of theoreticalPeak(threads). */
  pctTheoretical?: number;
}

/** The eval-mode backbone forward beside the training step of the same model and batch. */
interface EvalRow {
  workload: string;
  backend: string;
  batch: number;
  timing: EvalForwardTiming;
  /** Eval img/s over the training step's img/s (a step image is two views, forward and backward). */
  vsTrainStep: number;
}

function evalTable(rows: EvalRow[]): string {
  const head = ['eval forward', 'backend', 'batch', 'img/s', 'ms/batch', 'cpu ms', 'kernels', 'leak', 'vs train step'];
  const lines = [head, ...rows.map((r) => [r.workload, r.backend, String(r.batch), r.timing.imgPerSec.toFixed(1), r.timing.msPerBatch.toFixed(0),
    r.timing.cpuMsPerBatch.toFixed(0), String(r.timing.kernelsPerForward), String(r.timing.leakedTensors), `${r.vsTrainStep.toFixed(2)}x`])];
  const widths = head.map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  return lines.map((l) => l.map((c, i) => c.padEnd(widths[i])).join('  ')).join('\n');
}

const here = dirname(fileURLToPath(import.meta.url));
const log = (s: string) => process.stderr.write(`${s}\n`);

/**
 * The machine's theoretical float32 peak from its cores and clock: threads x nominal GHz
 * (/proc/cpuinfo) x 2 FMA units x lanes of the widest vector ISA (AVX-512: 16, AVX2+FMA: 8,
 * else SSE: 4) x 2 flops per FMA. Two FMA units is what current Xeon and EPYC cores have;
 * the figure is an upper bound (turbo clocks aside) that no kernel reaches.
 */
export function theoreticalPeak(threads: number): { gflops: number; basis: string } | null {
  let info: string;
  try { info = readFileSync('/proc/cpuinfo', 'utf8'); } catch { return null; }
  const mhz = Number(/^cpu MHz\s*:\s*([\d.]+)/m.exec(info)?.[1]);
  const flags = /^flags\s*:(.*)$/m.exec(info)?.[1].split(/\s+/) ?? [];
  if (!(mhz > 0)) return null;
  const lanes = flags.includes('avx512f') ? 16 : flags.includes('avx2') && flags.includes('fma') ? 8 : 4;
  const cores = Math.min(threads, os.cpus().length);
  const gflops = (cores * mhz * 2 * lanes * 2) / 1000;
  return { gflops, basis: `${cores} cores x ${(mhz / 1000).toFixed(2)} GHz x 2 FMA units x ${lanes} fp32 lanes x 2` };
}

/** Best sustained float32 GEMM rate here (oneDNN, 1024^3), the "peak" the step is compared with. */
function sgemmPeak(): number | null {
  const nb = nativeBackend();
  if (!nb) return null;
  const n = 1024;
  const a = new Float32Array(n * n).fill(0.5), b = new Float32Array(n * n).fill(0.25), c = new Float32Array(n * n);
  let best = Infinity;
  for (let i = 0; i < 6; i++) {
    const t0 = performance.now();
    nb.addon.matmul(a, b, null, c, [1, n, n, n, 0, 0], false);
    best = Math.min(best, performance.now() - t0);
  }
  return (2 * n * n * n) / (best / 1000) / 1e9;
}

async function activate(name: string, threads: number): Promise<{ ok: boolean; reason?: string }> {
  try {
    await useBackend(name as BackendName, { threads });
    return { ok: true };
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
}

/** Steps per backend: enough to take a median on the fast ones, one or two on the slow. */
function plan(backend: string, quick: boolean): { steps: number; warmup: number; maxBatch: number } {
  if (backend === 'cpu') return { steps: 1, warmup: 0, maxBatch: 2 };
  if (backend === 'wasm') return { steps: quick ? 1 : 2, warmup: 1, maxBatch: 128 };
  return { steps: quick ? 2 : 5, warmup: quick ? 1 : 2, maxBatch: Infinity };
}

async function soak(cfg: StepConfig, steps: number): Promise<Record<string, unknown>> {
  const step = buildStep(cfg);
  const rss: number[] = [];
  const t0 = tf.memory().numTensors;
  try {
    for (let i = 1; i <= steps; i++) {
      await step.run();
      if (i % 10 === 0) rss.push(Math.round(process.memoryUsage().rss / 2 ** 20));
    }
  } finally { step.dispose(); }
  return { steps, rssMiB: rss, tensorsLeft: tf.memory().numTensors - t0 };
}

function table(rows: Row[], peers: { workload: string; res: PeerResult }[], theoryGflops?: number): string {
  const head = ['workload', 'backend', 'batch', 'img/s', 'ms/step', 'cpu ms', 'GFLOP/s', '% sgemm', '% peak', 'kernels', 'tensors', 'leak', 'vs torch'];
  const lines: string[][] = [head];
  const fmt = (v: number | undefined, d = 1) => (v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(d));
  for (const r of rows) {
    if (!r.ok || !r.timing) { lines.push([r.workload, r.backend, String(r.batch), `unavailable: ${r.reason}`]); continue; }
    const t = r.timing;
    const torch = peers.filter((p) => p.workload === r.workload && p.res.ok).map((p) => p.res.imgPerSec!);
    const ratio = torch.length && r.batch === rowBatch(rows, r.workload) ? (t.imgPerSec / Math.max(...torch)).toFixed(2) + 'x' : '-';
    lines.push([r.workload, r.backend, String(r.batch), fmt(t.imgPerSec), fmt(t.msPerStep, 0), fmt(t.cpuMsPerStep, 0), fmt(t.gflops),
      fmt(r.pctPeak), fmt(r.pctTheoretical), String(t.kernelsPerStep), String(t.tensorsPerStep), fmt(t.leakedTensors, 0), ratio]);
  }
  for (const p of peers) {
    const r = p.res;
    const name = `pytorch${r.channelsLast ? ' (channels_last)' : ''}`;
    // The peer's GFLOP/s from the same step's flop count (one of our rows at the workload's batch).
    const ours = rows.find((x) => x.workload === p.workload && x.ok && x.timing && x.batch === rowBatch(rows, p.workload));
    const gflops = r.ok && ours?.timing ? (ours.timing.gflops * ours.timing.msPerStep) / r.msPerStep! : undefined;
    lines.push(r.ok ? [p.workload, name, String(rowBatch(rows, p.workload)), fmt(r.imgPerSec), fmt(r.msPerStep, 0), fmt(r.cpuMsPerStep, 0), fmt(gflops), '',
      fmt(gflops !== undefined && theoryGflops ? (100 * gflops) / theoryGflops : undefined), '', '', '', ''] : [p.workload, name, '', `unavailable: ${r.reason}`]);
  }
  const widths = head.map((_, i) => Math.max(...lines.filter((l) => l.length === head.length).map((l) => (l[i] ?? '').length)));
  return lines.map((l) => (l.length === head.length ? l.map((c, i) => c.padEnd(widths[i])).join('  ') : l.join('  '))).join('\n');
}

/** The batch the workload was meant to run at (the cpu row may run smaller). */
function rowBatch(rows: Row[], workload: string): number {
  const b = rows.filter((r) => r.workload === workload).map((r) => r.batch);
  return b.length ? Math.max(...b) : NaN;
}

export async function runBench(opts: BenchOptions): Promise<object> {
  const quick = !!opts.quick;
  const threads = opts.threads ?? (typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length);
  // The JS cpu backend is opt-in: one step at batch 8 took 274 s here.
  const backends = opts.backends ?? ['native', 'tensorflow', 'wasm'];
  const ref: StepConfig = quick ? { ...REFERENCE, batch: 32 } : REFERENCE;
  const workloads: { cfg: StepConfig; backends: string[] }[] = [{ cfg: ref, backends }];
  if (!quick) {
    // The other targets: small batch and a deeper network, native vs PyTorch only.
    const fast = backends.filter((b) => b === 'native' || b === 'tensorflow');
    workloads.push({ cfg: { ...REFERENCE, name: `${REFERENCE.name} b32`, batch: 32 }, backends: fast });
    workloads.push({ cfg: RESNET18, backends: fast });
  }
  const py = opts.peer ? findTorchPython() : null;
  const rows: Row[] = [];
  const evalRows: EvalRow[] = [];
  const peers: { workload: string; res: PeerResult }[] = [];
  let peak: number | null = null;
  const theory = theoreticalPeak(threads);

  for (const { cfg, backends: bs } of workloads) {
    const label = `${cfg.name} ${cfg.size}x${cfg.size}`;
    const peerRun = (channelsLast: boolean) => {
      if (!opts.peer) return;
      if (!py) { peers.push({ workload: label, res: { ok: false, channelsLast, reason: 'no python3 with torch (apt-get install python3-torch)' } }); return; }
      log(`bench: ${label} on pytorch${channelsLast ? ' channels_last' : ''}...`);
      const p = plan('native', quick);
      peers.push({ workload: label, res: runPeer(py, cfg, { ...p, threads, channelsLast }) });
    };
    // PyTorch before and after ours, so slow drift in machine load hits both sides.
    peerRun(false);
    for (const b of bs) {
      const a = await activate(b, threads);
      const p = plan(b, quick);
      const batch = Math.min(cfg.batch, p.maxBatch);
      if (!a.ok) { rows.push({ workload: label, backend: b, batch, ok: false, reason: a.reason }); continue; }
      if (b === 'native' && peak === null) peak = sgemmPeak();
      log(`bench: ${label} on ${b} (batch ${batch}, ${p.steps} steps)...`);
      try {
        const t = await timeStep({ ...cfg, batch }, p);
        const { profile, ...timing } = t;
        rows.push({ workload: label, backend: b, batch, ok: true, timing, profile: profile.slice(0, 12), pctPeak: peak ? (100 * t.gflops) / peak : undefined, pctTheoretical: theory ? (100 * t.gflops) / theory.gflops : undefined });
        if (b !== 'cpu') {
          log(`bench: ${label} eval forward on ${b} (batch ${batch})...`);
          try {
            const e = await timeEvalForward({ ...cfg, batch }, { batches: 3 * p.steps, warmup: p.warmup + 1 });
            evalRows.push({ workload: label, backend: b, batch, timing: e, vsTrainStep: e.imgPerSec / t.imgPerSec });
          } catch (e) {
            log(`bench: eval forward on ${b} failed: ${(e as Error).message.split('\n')[0]}`);
          }
        }
      } catch (e) {
        rows.push({ workload: label, backend: b, batch, ok: false, reason: `failed: ${(e as Error).message.split('\n')[0]}` });
      }
    }
    peerRun(true);
  }

  let soakResult: Record<string, unknown> | undefined;
  if (opts.soak && (await activate('native', threads)).ok) {
    log(`bench: soak, ${opts.soak} native steps at batch ${ref.batch}...`);
    soakResult = await soak(ref, opts.soak);
  }

  const extra: Record<string, unknown> = {};
  let e2eText: string | undefined;
  if (opts.e2e) {
    try {
      const mod = await import('./e2e.ts');
      const res = await mod.run({ json: opts.json, peer: opts.peer, threads, python: opts.peer ? py : null, print: false });
      extra.e2e = res;
      e2eText = mod.e2eTable(res);
    } catch (e) {
      extra.e2e = { error: (e as Error).message.split('\n')[0] };
    }
  }
  for (const name of ['augment', 'loader']) {
    const file = join(here, `${name}.ts`);
    if (!existsSync(file)) continue;
    try {
      const mod = (await import(pathToFileURL(file).href)) as { run(o: { json: boolean }): Promise<Record<string, unknown>> };
      extra[name] = await mod.run({ json: opts.json });
    } catch (e) {
      extra[name] = { error: (e as Error).message.split('\n')[0] };
    }
  }

  const result = {
    machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, threads, sgemmPeakGflops: peak, theoreticalPeak: theory, loadavg: os.loadavg() },
    flopsPerStep: Object.fromEntries(workloads.map(({ cfg }) => [cfg.name, stepFlops(cfg)])),
    rows, evalForward: evalRows, peers, soak: soakResult, ...extra,
  };
  if (!opts.json) {
    console.log(`machine: ${result.machine.cpu}, ${result.machine.cores} cores, ${threads} threads, sgemm peak ${peak ? peak.toFixed(0) + ' GFLOP/s' : 'n/a'}, theoretical peak ${theory ? `${theory.gflops.toFixed(0)} GFLOP/s (${theory.basis})` : 'n/a'}, load ${os.loadavg().map((v) => v.toFixed(1)).join(' ')}`);
    if (theory && peak && peak > theory.gflops) {
      console.log(`note: the measured sgemm (${peak.toFixed(0)} GFLOP/s) beats the peak at the nominal clock: the cores run faster than ${theory.basis.split(' x ')[1]} (turbo), so "% peak" overstates; "% sgemm" is the attainable-rate figure`);
    }
    if (rows.some((r) => r.backend === 'native') && nativeBackend()?.addon.info().convWinograd) {
      console.log('note: GFLOP/s counts every convolution as direct (the same count as PyTorch\'s rows); native runs the wide 3x3 stride-1 layers as Winograd F(4x4, 3x3), which does fewer multiplies, so its "% peak" and "% sgemm" can pass 100 (SELFSUP_CONV_WINOGRAD=0 for the direct kernels)');
    }
    console.log(table(rows, peers, theory?.gflops));
    if (evalRows.length) console.log(evalTable(evalRows));
    const top = rows.find((r) => r.backend === 'native' && r.profile);
    if (top?.profile) console.log(`native per-kernel ms (${top.workload}, one step): ${top.profile.map((p) => `${p.kernel} ${p.ms.toFixed(0)}`).join(', ')}`);
    if (soakResult) console.log(`soak: ${JSON.stringify(soakResult)}`);
    if (e2eText) console.log(e2eText);
    for (const [k, v] of Object.entries(extra)) if (k !== 'e2e' || !e2eText) console.log(`${k}: ${JSON.stringify(v)}`);
  }
  return result;
}

function argValue(argv: string[], flag: string): string | undefined {
  const i = argv.indexOf(flag);
  return i >= 0 ? argv[i + 1] : undefined;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const argv = process.argv.slice(2);
  const json = argv.includes('--json');
  const res = await runBench({
    json, peer: argv.includes('--peer'), quick: argv.includes('--quick'),
    backends: argValue(argv, '--backends')?.split(',').map((s) => s.trim()),
    threads: argValue(argv, '--threads') ? Number(argValue(argv, '--threads')) : undefined,
    soak: argValue(argv, '--soak') ? Number(argValue(argv, '--soak')) : undefined,
    e2e: argv.includes('--e2e'),
  });
  if (json) console.log(JSON.stringify(res));
}
