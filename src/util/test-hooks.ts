// Points in a real process where a test must act exactly: signal it at step 5,
// crash it mid-epoch, know that a long phase has started. Polling a child's
// output from outside races with a fast machine; these hooks do not. Off (one
// string compare) unless SELFSUP_TEST_HOOKS is set, a comma-separated list of:
//   trace                   print "selfsup-hook: <point>" on stderr at every point
//   raise:<point>:<SIGNAL>  send SIGNAL to this process when <point> is reached
//   slow:<prefix>:<ms>      block synchronously for ms at every point starting with
//                           <prefix> (stands in for a batch that takes long)
// Points: step-<n> (step n done and logged), phase-<name> (a long phase starts),
// batch-<name> (one batch of that phase done). Names: features, knn-monitor,
// linear, embed.
import { writeSync } from 'node:fs';

interface Hooks { trace: boolean; raise: Map<string, NodeJS.Signals>; slow: [string, number][] }

let parsedFrom: string | undefined;
let parsed: Hooks | undefined;

function hooks(): Hooks | undefined {
  const env = process.env.SELFSUP_TEST_HOOKS;
  if (!env) return undefined;
  if (env !== parsedFrom) {
    const h: Hooks = { trace: false, raise: new Map(), slow: [] };
    for (const item of env.split(',')) {
      const [kind, a, b] = item.split(':');
      if (kind === 'trace') h.trace = true;
      else if (kind === 'raise' && a && b) h.raise.set(a, b as NodeJS.Signals);
      else if (kind === 'slow' && a && Number(b) > 0) h.slow.push([a, Number(b)]);
    }
    parsedFrom = env;
    parsed = h;
  }
  return parsed;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

export function hookPoint(point: string): void {
  const h = hooks();
  if (!h) return;
  // Straight to fd 2: a pending async stderr write could be lost to a SIGKILL raised just below.
  if (h.trace) writeSync(2, `selfsup-hook: ${point}\n`);
  for (const [prefix, ms] of h.slow) if (point.startsWith(prefix)) Atomics.wait(sleeper, 0, 0, ms);
  const sig = h.raise.get(point);
  if (sig) process.kill(process.pid, sig);
}
