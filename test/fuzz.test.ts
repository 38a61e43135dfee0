// Recipe and CLI fuzzing: thousands of seeded random and mutated recipes, --set
// overrides and flag sets. Every one must end in a valid recipe or a UserError
// with a one-line message (exit 2 at the CLI) — never another exception, which
// the CLI would print as an internal error with a stack trace.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommanderError, type Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../src/cli/main.ts';
import { loadRecipe } from '../src/recipe/index.ts';
import { recipeSchema } from '../src/recipe/schema.ts';
import { buildAugmenter } from '../src/train/augmenter.ts';
import { isUserError } from '../src/util/errors.ts';
import { Rng } from '../src/util/rng.ts';

const RECIPES = readdirSync('recipes').filter((f) => f.endsWith('.yaml')).map((f) => join('recipes', f));

interface Node { properties?: Record<string, Node> }
function leafPaths(node: Node, prefix = ''): string[] {
  if (!node.properties) return [prefix];
  return Object.entries(node.properties).flatMap(([k, v]) => leafPaths(v, prefix ? `${prefix}.${k}` : k));
}
const LEAVES = leafPaths(recipeSchema as unknown as Node);
const SECTIONS = Object.keys((recipeSchema as unknown as Node).properties!);

const VALUES = [
  '0', '1', '-1', '2', '3', '0.5', '1e9', '-1e-9', '1e400', 'nan', '.nan', 'inf', 'true', 'false', 'null', '~', '',
  'abc', 'auto', 'none', 'half', 'sgd', 'cosine', 'supcon', '[]', '[1]', '[0, 1]', '[a, b]', '[1, [2]]', '{}', '{a: 1}',
  '[1,2', '{a:', '- x', '"quoted"', "'single'", '../../etc', 'x'.repeat(300), '\u0000', '\n', '#', '&anchor', '*alias',
];
const pick = <T>(rng: Rng, a: readonly T[]): T => a[rng.int(a.length)];

function mutateKey(rng: Rng, key: string): string {
  switch (rng.int(6)) {
    case 0: return key.replace(/.$/, '');
    case 1: return `${key}x`;
    case 2: return key.replace('.', '..');
    case 3: return `${pick(rng, SECTIONS)}.${key.split('.').pop()}`;
    case 4: return key.split('.')[0];
    default: return key.toUpperCase();
  }
}

function randomSet(rng: Rng): string {
  const key = rng.bernoulli(0.8) ? pick(rng, LEAVES) : mutateKey(rng, pick(rng, LEAVES));
  const form = rng.int(10);
  if (form === 0) return key; // no '='
  if (form === 1) return `=${pick(rng, VALUES)}`;
  return `${key}=${pick(rng, VALUES)}`;
}

function mutateText(rng: Rng, text: string): string {
  const lines = text.split('\n');
  for (let m = 1 + rng.int(4); m > 0; m--) {
    const i = rng.int(lines.length);
    switch (rng.int(5)) {
      case 0: lines.splice(i, 1); break;
      case 1: lines.splice(i, 0, lines[rng.int(lines.length)]); break;
      case 2: lines[i] = lines[i].replace(/: .*/, `: ${pick(rng, VALUES)}`); break;
      case 3: lines[i] = `  ${lines[i]}`; break;
      default: {
        const at = rng.int(lines[i].length + 1);
        lines[i] = lines[i].slice(0, at) + pick(rng, [':', '-', '[', '{', '"', ' ', '\t', 'x']) + lines[i].slice(at);
      }
    }
  }
  return lines.join('\n');
}

/** Loads (and builds the augmentation of) a recipe; returns 'ok', or the UserError's message. Anything else throws. */
function attempt(file: string, sets: string[]): string {
  try {
    const r = loadRecipe(file, sets);
    buildAugmenter(r, r.data.channels);
    return 'ok';
  } catch (e) {
    if (!isUserError(e)) throw new Error(`${file} --set ${sets.join(' --set ')}: not a UserError: ${(e as Error)?.stack ?? String(e)}`);
    return (e as Error).message;
  }
}

function expectOneLine(msg: string, what: string): void {
  expect(msg.includes('\n'), `${what}: message spans lines: ${JSON.stringify(msg)}`).toBe(false);
  expect(msg.length, what).toBeGreaterThan(10);
}

describe('recipe fuzzing', () => {
  it('2000 random --set overrides on the shipped recipes end in a recipe or a one-line UserError', () => {
    const rng = new Rng('fuzz-sets');
    const outcomes = { ok: 0, user: 0 };
    for (let i = 0; i < 2000; i++) {
      const file = pick(rng, RECIPES);
      const sets = Array.from({ length: 1 + rng.int(3) }, () => randomSet(rng));
      const msg = attempt(file, sets);
      if (msg === 'ok') outcomes.ok++;
      else { outcomes.user++; expectOneLine(msg, sets.join(' ')); }
    }
    // Both outcomes occur: the generator reaches valid and invalid recipes alike.
    expect(outcomes.ok).toBeGreaterThan(30);
    expect(outcomes.user).toBeGreaterThan(1000);
  });

  it('1000 mutated recipe files end in a recipe or a one-line UserError naming the file', () => {
    const rng = new Rng('fuzz-files');
    const dir = mkdtempSync(join(tmpdir(), 'selfsup-fuzz-'));
    let user = 0;
    for (let i = 0; i < 1000; i++) {
      const src = pick(rng, RECIPES);
      const file = join(dir, `r${i}.yaml`);
      writeFileSync(file, mutateText(rng, readFileSync(src, 'utf8')));
      const msg = attempt(file, []);
      if (msg !== 'ok') {
        user++;
        expectOneLine(msg, file);
      }
    }
    expect(user).toBeGreaterThan(50);
  });
});

describe('CLI parser fuzzing', () => {
  const TOKENS = [
    'pretrain', 'eval', 'knn', 'linear', 'fewshot', 'retrieval', 'verify', 'export', 'views', 'info', 'bench', 'embed',
    'search', 'dedup', 'nosuchcommand', '--set', '--out', '--resume', '--backend', 'gpu9000', 'native', '--seed', 'x',
    '--json', '--checkpoint', '--format', 'web', 'tfjs', '-k', '--threshold', '--image', '--images', '--id', '--help',
    '--threads', '0', '-1', '--', '-', 'recipes/mnist-simclr.yaml', 'train.epochs=2', '=', '--bogus', '--n',
  ];

  /** The real program with every action replaced: only parsing is exercised. */
  function parserOnly(): Command {
    const program = buildProgram();
    const stub = (c: Command): void => {
      c.configureOutput({ writeOut: () => {}, writeErr: () => {} });
      c.exitOverride();
      if (c.commands.length === 0) c.action(() => {});
      for (const sub of c.commands) stub(sub);
    };
    stub(program);
    return program;
  }

  it('300 random flag sets parse or fail with a usage error (exit 2), never an exception', async () => {
    const rng = new Rng('fuzz-cli');
    let usage = 0;
    for (let i = 0; i < 300; i++) {
      const argv = Array.from({ length: rng.int(6) }, () => pick(rng, TOKENS));
      try {
        await parserOnly().parseAsync(argv, { from: 'user' });
      } catch (e) {
        if (!(e instanceof CommanderError)) throw new Error(`selfsup ${argv.join(' ')}: ${(e as Error)?.stack ?? String(e)}`);
        usage++;
      }
    }
    expect(usage).toBeGreaterThan(30);
  });
});
