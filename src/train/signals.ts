// Ctrl-C / SIGTERM during training: the trainer finishes the current step, writes
// a checkpoint and exits 130 / 143 with a message saying how to resume. A second
// signal while that happens exits at once. Long phases (feature extraction,
// k-NN monitor, linear probe, embedding) call yieldToSignals once per batch: a
// signal handler only runs on a macrotask turn, and a loop of awaited
// microtasks never gives it one.
export type StopReason = 'SIGINT' | 'SIGTERM';

/** The StopSignal currently installed by a command, if any (one per process). */
let installed: StopSignal | null = null;

export class StopSignal {
  reason: StopReason | null = null;
  private handlers: [StopReason, () => void][] = [];

  /** `doing` completes "SIGTERM received; ..." (what happens before the exit). */
  install(doing = 'finishing the current step and writing a checkpoint'): void {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      const h = () => {
        if (this.reason) process.exit(sig === 'SIGINT' ? 130 : 143);
        this.reason = sig;
        process.stderr.write(`\nselfsup: ${sig} received; ${doing} (send again to abort)\n`);
      };
      process.on(sig, h);
      this.handlers.push([sig, h]);
    }
    installed = this;
  }

  uninstall(): void {
    for (const [sig, h] of this.handlers) process.off(sig, h);
    this.handlers = [];
    if (installed === this) installed = null;
  }
}

/** Thrown out of a long phase by yieldToSignals when a stop was requested; the command decides what to save. */
export class Stopped extends Error {
  constructor(readonly reason: StopReason, readonly phase: string, detail?: string) {
    super(`stopped by ${reason} during ${phase}${detail ? `; ${detail}` : ''}`);
    this.name = 'Stopped';
  }
  get exitCode(): number { return this.reason === 'SIGINT' ? 130 : 143; }
}

export function isStopped(e: unknown): e is Stopped {
  return e instanceof Stopped;
}

let lastTurn = 0;
/** Turns closer together than this are skipped: a setImmediate costs little, but not nothing, in a tight loop. */
const TURN_MS = 20;

/**
 * Gives pending signal handlers a macrotask turn (at most every TURN_MS) and
 * throws Stopped when the installed StopSignal has fired. Call once per batch.
 */
export async function yieldToSignals(phase: string): Promise<void> {
  const now = Date.now();
  if (now - lastTurn >= TURN_MS) {
    lastTurn = now;
    await new Promise((res) => setImmediate(res));
  }
  if (installed?.reason) throw new Stopped(installed.reason, phase);
}

/** Thrown when training stopped on a signal after saving; carries the process exit code. */
export class Interrupted extends Error {
  constructor(readonly reason: StopReason, readonly checkpoint: string, readonly runDir: string) {
    super(`stopped by ${reason} after writing ${checkpoint}; continue with: selfsup pretrain <recipe> --out ${runDir} --resume`);
    this.name = 'Interrupted';
  }
  get exitCode(): number { return this.reason === 'SIGINT' ? 130 : 143; }
}

/**
 * Thrown when the loss or the weights stop being finite; the last good checkpoint is kept.
 * Exit 2: the cure is in the recipe (optim.lr, method.temperature), like any other bad input.
 */
export class NonFiniteError extends Error {
  readonly exitCode = 2;
  constructor(what: string, step: number, lastCheckpoint: string | undefined, hint: string) {
    super(`${what} at step ${step}; stopped without saving it. ${lastCheckpoint ? `Last good checkpoint: ${lastCheckpoint}. ` : ''}${hint}`);
    this.name = 'NonFiniteError';
  }
}
