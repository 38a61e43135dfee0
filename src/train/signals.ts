// Ctrl-C / SIGTERM during training: the trainer finishes the current step, writes
// a checkpoint and exits 130 / 143 with a message saying how to resume. A second
// signal while that happens exits at once.
export type StopReason = 'SIGINT' | 'SIGTERM';

export class StopSignal {
  reason: StopReason | null = null;
  private handlers: [StopReason, () => void][] = [];

  install(): void {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      const h = () => {
        if (this.reason) process.exit(sig === 'SIGINT' ? 130 : 143);
        this.reason = sig;
        process.stderr.write(`\nselfsup: ${sig} received; finishing the current step and writing a checkpoint (send again to abort)\n`);
      };
      process.on(sig, h);
      this.handlers.push([sig, h]);
    }
  }

  uninstall(): void {
    for (const [sig, h] of this.handlers) process.off(sig, h);
    this.handlers = [];
  }
}

/** Thrown when training stopped on a signal after saving; carries the process exit code. */
export class Interrupted extends Error {
  constructor(readonly reason: StopReason, readonly checkpoint: string, readonly runDir: string) {
    super(`stopped by ${reason} after writing ${checkpoint}; continue with: selfsup pretrain <recipe> --out ${runDir} --resume`);
    this.name = 'Interrupted';
  }
  get exitCode(): number { return this.reason === 'SIGINT' ? 130 : 143; }
}

/** Thrown when the loss or the weights stop being finite; the last good checkpoint is kept. */
export class NonFiniteError extends Error {
  readonly exitCode = 1;
  constructor(what: string, step: number, lastCheckpoint: string | undefined, hint: string) {
    super(`${what} at step ${step}; stopped without saving it. ${lastCheckpoint ? `Last good checkpoint: ${lastCheckpoint}. ` : ''}${hint}`);
    this.name = 'NonFiniteError';
  }
}
