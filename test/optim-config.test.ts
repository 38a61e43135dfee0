// The `optim` recipe section: Ajv defaults, and typos rejected.
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { excludesBnBias, optimSchema, type OptimConfig } from '../src/recipe/sections/optim.ts';

// As the recipe loader uses it: the section sits under a root object (Ajv's strict mode
// ignores a `default` on the schema root).
function validate(input: unknown): { ok: boolean; value: unknown; errors: string } {
  const ajv = new Ajv({ useDefaults: true, allErrors: true });
  const check = ajv.compile({ type: 'object', properties: { optim: optimSchema } });
  const recipe = { optim: structuredClone(input) };
  const ok = check(recipe);
  return { ok, value: recipe.optim, errors: ajv.errorsText(check.errors) };
}

describe('optimSchema', () => {
  it('fills every default from an empty or missing section', () => {
    const ajv = new Ajv({ useDefaults: true });
    const missing: { optim?: unknown } = {};
    expect(ajv.compile({ type: 'object', properties: { optim: optimSchema } })(missing)).toBe(true);
    expect(missing.optim).toEqual(validate({}).value);
    const { ok, value } = validate({});
    expect(ok).toBe(true);
    const want: OptimConfig = {
      name: 'sgd', lr: 0.06, lr_scaling: 'linear', momentum: 0.9, weight_decay: 5e-4, nesterov: false,
      trust_coefficient: 0.001, betas: [0.9, 0.999], eps: 1e-8, warmup_epochs: 0, schedule: 'cosine',
      min_lr: 0, milestones: [], gamma: 0.1,
    };
    expect(value).toEqual(want);
    expect(excludesBnBias(value as OptimConfig)).toBe(false);
  });

  it('keeps given values and applies the lars default for exclude_bn_bias', () => {
    const { ok, value } = validate({ name: 'lars', lr: 0.3, betas: [0.5, 0.9] });
    expect(ok).toBe(true);
    expect(value).toMatchObject({ name: 'lars', lr: 0.3, betas: [0.5, 0.9], momentum: 0.9 });
    expect(excludesBnBias(value as OptimConfig)).toBe(true);
    expect(excludesBnBias({ name: 'lars', exclude_bn_bias: false })).toBe(false);
    expect(excludesBnBias({ name: 'adamw', exclude_bn_bias: true })).toBe(true);
  });

  it('rejects unknown keys and bad values', () => {
    expect(validate({ learning_rate: 0.1 }).ok).toBe(false);
    expect(validate({ name: 'rmsprop' }).ok).toBe(false);
    expect(validate({ betas: [0.9] }).ok).toBe(false);
    expect(validate({ betas: [0.9, 1] }).ok).toBe(false);
    expect(validate({ lr: 0 }).ok).toBe(false);
    expect(validate({ momentum: 1 }).ok).toBe(false);
    expect(validate({ schedule: 'linear' }).ok).toBe(false);
    expect(validate({ weight_decay: -1 }).ok).toBe(false);
  });

  it('gives fresh default arrays to each recipe', () => {
    const a = validate({}).value as OptimConfig;
    const b = validate({}).value as OptimConfig;
    a.betas[0] = 0;
    expect(b.betas[0]).toBe(0.9);
  });
});
