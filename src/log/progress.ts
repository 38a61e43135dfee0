// The progress line of long work: a bar with ETA, images/s and the latest values
// (loss, lr, k-NN...). Drawn on stderr so stdout stays clean for --json.
import cliProgress from 'cli-progress';

export interface ProgressOptions { title: string; total: number; unit?: string; quiet?: boolean }

export class Progress {
  private readonly bar?: cliProgress.SingleBar;
  private readonly started = Date.now();
  private items = 0;
  constructor(private readonly opts: ProgressOptions) {
    if (opts.quiet) return;
    this.bar = new cliProgress.SingleBar({
      stream: process.stderr,
      format: `${opts.title} [{bar}] {value}/{total} ${opts.unit ?? 'steps'} | ETA {eta_formatted} | {rate} img/s{extra}`,
      barsize: 24,
      hideCursor: true,
      etaBuffer: 50,
      noTTYOutput: true,
      notTTYSchedule: 10_000,
      fps: 5,
    }, cliProgress.Presets.shades_classic);
  }
  start(value = 0): void { this.bar?.start(this.opts.total, value, { rate: '-', extra: '' }); }
  /** Advance to `value`, counting `itemsDone` more images for the rate. */
  update(value: number, itemsDone: number, extra: Record<string, string | number> = {}): void {
    this.items += itemsDone;
    const secs = (Date.now() - this.started) / 1000;
    const rate = secs > 0 ? (this.items / secs).toFixed(1) : '-';
    const txt = Object.entries(extra).map(([k, v]) => ` | ${k} ${typeof v === 'number' ? fmt(v) : v}`).join('');
    this.bar?.update(value, { rate, extra: txt });
  }
  imagesPerSecond(): number { const s = (Date.now() - this.started) / 1000; return s > 0 ? this.items / s : 0; }
  stop(): void { this.bar?.stop(); }
}

function fmt(v: number): string {
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 1 ? v.toFixed(3) : a >= 1e-3 ? v.toFixed(4) : v.toExponential(2);
}
