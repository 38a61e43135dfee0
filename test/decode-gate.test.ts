// The decode gate: shared tasks overlap, an `alone` task waits for them to finish and
// holds off new ones until it is done; sharp messages come out as one line.
import { describe, expect, it } from 'vitest';
import { DecodeGate, oneLine } from '../src/data/decode-gate.ts';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('DecodeGate', () => {
  it('runs shared tasks together and an alone task with nothing else running', async () => {
    const gate = new DecodeGate();
    const events: string[] = [];
    let live = 0;
    let most = 0;
    const task = (name: string, ms: number) => async () => {
      live++;
      most = Math.max(most, live);
      events.push(`${name}+${live}`);
      await tick(ms);
      live--;
      events.push(`${name}-`);
      return name;
    };
    const a = gate.shared(task('a', 30));
    const b = gate.shared(task('b', 10));
    await tick(1);
    const x = gate.alone(task('x', 10));
    await tick(1);
    const c = gate.shared(task('c', 5)); // started after x asked: waits for x
    const y = gate.alone(task('y', 5)); // a second alone task waits for the first
    expect(await Promise.all([a, b, x, c, y])).toEqual(['a', 'b', 'x', 'c', 'y']);
    expect(most).toBe(2);
    // a and b overlap; x starts only when both are done, alone; c and y come after x.
    expect(events.slice(0, 4)).toEqual(['a+1', 'b+2', 'b-', 'a-']);
    expect(events.slice(4, 6)).toEqual(['x+1', 'x-']);
    expect(events.slice(6).filter((e) => e.endsWith('+1') || e.endsWith('+2')).sort()).toEqual(['c+1', 'y+1']);
  });

  it('an alone task with nothing running starts at once, and errors pass through and release the gate', async () => {
    const gate = new DecodeGate();
    await expect(gate.alone(async () => { throw new Error('bad file'); })).rejects.toThrow('bad file');
    expect(await gate.shared(async () => 7)).toBe(7);
    await expect(gate.shared(async () => { throw new Error('also bad'); })).rejects.toThrow('also bad');
    expect(await gate.alone(async () => 8)).toBe(8);
  });
});

describe('oneLine', () => {
  it('joins distinct non-empty lines with "; "', () => {
    expect(oneLine('Input file has corrupt header: VipsJpeg: Premature end\nsource input: Cannot read TIFF header\n'))
      .toBe('Input file has corrupt header: VipsJpeg: Premature end; source input: Cannot read TIFF header');
    expect(oneLine('a\n a \n\nb')).toBe('a; b');
    expect(oneLine('\n')).toBe('unknown decode error');
  });
});
