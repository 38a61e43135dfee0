import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadRecipe, recipeToYaml } from '../src/recipe/index.ts';
import { UserError } from '../src/util/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'selfsup-recipe-'));
function file(name: string, text: string): string { const p = join(dir, name); writeFileSync(p, text); return p; }

function message(fn: () => unknown): string {
  try { fn(); } catch (e) { expect(e).toBeInstanceOf(UserError); return (e as Error).message; }
  throw new Error('expected a UserError');
}

describe('recipes', () => {
  it('fills defaults and takes the name from the file', () => {
    const r = loadRecipe(file('tiny.yaml', 'train:\n  epochs: 3\n'));
    expect(r.name).toBe('tiny');
    expect(r.train.epochs).toBe(3);
    expect(r.train.batch_size).toBe(256);
    expect(r.method.name).toBe('simclr');
    expect(r.eval.knn_k).toBe(200);
    expect(r.eval.knn_t).toBe(0.1);
  });

  it('applies --set overrides with YAML typing', () => {
    const r = loadRecipe(file('a.yaml', 'train:\n  epochs: 3\n'), ['train.epochs=5', 'model.widths=[8, 16]', 'optim.name=adam', 'log.tensorboard=false']);
    expect(r.train.epochs).toBe(5);
    expect(r.model.widths).toEqual([8, 16]);
    expect(r.optim.name).toBe('adam');
    expect(r.log.tensorboard).toBe(false);
  });

  it('rejects unknown keys in the file, listing the valid ones', () => {
    const m = message(() => loadRecipe(file('b.yaml', 'train:\n  epoch: 3\n')));
    expect(m).toContain("unknown key 'train.epoch'");
    expect(m).toContain('epochs');
    expect(m).toContain('b.yaml');
    const top = message(() => loadRecipe(file('c.yaml', 'trian: {}\n')));
    expect(top).toContain("unknown key 'trian'");
    expect(top).toContain('train');
  });

  it('rejects unknown keys and wrong types in --set', () => {
    expect(message(() => loadRecipe(undefined, ['train.epoch=3']))).toMatch(/unknown key 'epoch'.*valid keys: epochs/);
    expect(message(() => loadRecipe(undefined, ['train.epochs=many']))).toMatch(/train\.epochs.*"many".*integer/);
    expect(message(() => loadRecipe(undefined, ['optim.name=rmsprop']))).toMatch(/optim\.name.*one of "sgd", "lars", "adam", "adamw"/);
    expect(message(() => loadRecipe(undefined, ['epochs']))).toMatch(/key=value/);
  });

  it('reports a missing recipe file and invalid YAML', () => {
    expect(message(() => loadRecipe(join(dir, 'nope.yaml')))).toContain('nope.yaml');
    expect(message(() => loadRecipe(file('bad.yaml', 'train: [1, 2\n')))).toContain('not valid YAML');
  });

  it('fills the temperature from the method when the recipe leaves it out', () => {
    expect(loadRecipe(undefined, []).method.temperature).toBe(0.5);
    expect(loadRecipe(undefined, ['method.name=mocov2']).method.temperature).toBe(0.2);
    expect(loadRecipe(undefined, ['method.name=mocov3']).method.temperature).toBe(1.0);
    expect(loadRecipe(undefined, ['method.name=mocov3', 'method.temperature=0.2']).method.temperature).toBe(0.2);
  });

  it('round-trips through the resolved YAML', () => {
    const r = loadRecipe(file('d.yaml', 'name: d\ntrain:\n  epochs: 2\n'), ['method.temperature=0.3']);
    const again = loadRecipe(file('e.yaml', recipeToYaml(r)));
    expect(again).toEqual(r);
    expect(YAML.parse(recipeToYaml(r)).method.temperature).toBe(0.3);
  });

  it('validates every shipped recipe', async () => {
    const { readdirSync } = await import('node:fs');
    const files = readdirSync('recipes').filter((f) => f.endsWith('.yaml'));
    expect(files).toContain('mnist-simclr.yaml');
    for (const f of files) expect(() => loadRecipe(join('recipes', f))).not.toThrow();
  });
});
