// The recipe's augment section: schema (Ajv with useDefaults, as the loader
// runs it), presets with the papers' values, overrides, and error messages.
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { augmentSchema, presetViews, resolveAugment } from '../augment/index.ts';
import { isUserError } from '../src/util/errors.ts';

function userError(f: () => unknown): string {
  try { f(); } catch (e) { expect(isUserError(e)).toBe(true); return (e as Error).message; }
  throw new Error('expected a UserError');
}

describe('presets', () => {
  it('carry the papers\' defaults', () => {
    const [s] = presetViews('simclr');
    expect(s.crop).toEqual({ scale: [0.08, 1], ratio: [3 / 4, 4 / 3] });
    expect(s.flip.p).toBe(0.5);
    expect(s.jitter).toEqual({ p: 0.8, brightness: 0.8, contrast: 0.8, saturation: 0.8, hue: 0.2 });
    expect(s.grayscale.p).toBe(0.2);
    expect(s.blur).toEqual({ p: 0.5, sigma: [0.1, 2], kernelFraction: 0.1, minSize: 64 });
    expect(s.solarize.p).toBe(0);

    const [m2a, m2b] = presetViews('mocov2');
    expect(m2a).toEqual(m2b);
    expect(m2a.crop.scale).toEqual([0.2, 1]);
    expect(m2a.jitter).toEqual({ p: 0.8, brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1 });
    expect(m2a.grayscale.p).toBe(0.2);
    expect(m2a.blur.p).toBe(0.5);

    const [v1, v2] = presetViews('mocov3');
    expect([v1.blur.p, v1.solarize.p]).toEqual([1, 0]);
    expect([v2.blur.p, v2.solarize.p]).toEqual([0.1, 0.2]);
    expect(v1.crop.scale).toEqual([0.08, 1]);

    const [d] = presetViews('digits');
    expect(d.flip.p).toBe(0);
    expect(d.jitter.hue).toBe(0);
    expect(d.jitter.saturation).toBe(0);
    expect(d.crop.scale[0]).toBeGreaterThanOrEqual(0.3);

    const [none] = presetViews('none');
    expect([none.flip.p, none.jitter.p, none.grayscale.p, none.blur.p, none.solarize.p]).toEqual([0, 0, 0, 0, 0]);
  });

  it('returns copies that callers may change', () => {
    presetViews('simclr')[0].jitter.p = 0;
    expect(presetViews('simclr')[0].jitter.p).toBe(0.8);
  });
});

describe('resolveAugment', () => {
  it('scales the jitter by strength (SimCLR s), capping hue at 0.5', () => {
    const r = resolveAugment({ preset: 'simclr', strength: 0.5 });
    expect(r.view1.jitter).toMatchObject({ brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1 });
    expect(resolveAugment({ preset: 'simclr', strength: 4 }).view2.jitter.hue).toBe(0.5);
  });

  it('applies section knobs to both views, then per-view knobs', () => {
    const r = resolveAugment({
      preset: 'mocov3',
      jitter: { p: 0.5, hue: 0.05 },
      crop: { scale: [0.3, 0.9] },
      view2: { solarize: { p: 0.7, threshold: 0.6 }, blur: { sigma: [1, 1.5] } },
      view1: { flip: { p: 0 } },
      mean: [0.5],
      std: [0.25, 0.25, 0.25],
    });
    expect(r.view1.jitter.p).toBe(0.5);
    expect(r.view2.jitter.hue).toBe(0.05);
    expect(r.view2.crop.scale).toEqual([0.3, 0.9]);
    expect(r.view2.solarize).toEqual({ p: 0.7, threshold: 0.6 });
    expect(r.view1.solarize.p).toBe(0);
    expect(r.view2.blur.sigma).toEqual([1, 1.5]);
    expect(r.view1.blur.sigma).toEqual([0.1, 2]);
    expect(r.view1.flip.p).toBe(0);
    expect(r.view2.flip.p).toBe(0.5);
    expect(r.mean).toEqual([0.5]);
    expect(r.std).toEqual([0.25, 0.25, 0.25]);
  });

  it('defaults to the digits preset', () => {
    expect(resolveAugment(undefined).preset).toBe('digits');
    expect(resolveAugment({}).view1).toEqual(presetViews('digits')[0]);
  });

  it('names the bad key and what is valid', () => {
    expect(userError(() => resolveAugment({ preset: 'byol' as never }))).toMatch(/augment\.preset.*simclr, mocov2/);
    expect(userError(() => resolveAugment({ preset: 'simclr', colour: {} } as never))).toMatch(/unknown key 'colour'.*jitter/);
    expect(userError(() => resolveAugment({ preset: 'simclr', jitter: { p: 1.5 } }))).toMatch(/augment\.jitter\.p: 1\.5/);
    expect(userError(() => resolveAugment({ preset: 'simclr', crop: { scale: [0.9, 0.2] } }))).toMatch(/augment\.crop\.scale: lo 0\.9 is greater than hi 0\.2/);
    expect(userError(() => resolveAugment({ preset: 'simclr', view2: { blur: { sigmas: [1, 2] } } } as never))).toMatch(/augment\.view2\.blur: unknown key 'sigmas'/);
    expect(userError(() => resolveAugment({ preset: 'simclr', jitter: { hue: 0.7 } }))).toMatch(/augment\.jitter\.hue/);
    expect(userError(() => resolveAugment({ preset: 'simclr', std: [0.5, 0] }))).toMatch(/augment\.std/);
    expect(userError(() => resolveAugment({ preset: 'simclr', crop: { ratio: [0, 1] } }))).toMatch(/augment\.crop\.ratio\[0\]/);
  });
});

describe('augmentSchema', () => {
  // as src/recipe/index.ts compiles it: nested in the recipe, useDefaults, strict off
  const ajv = new Ajv({ useDefaults: true, allErrors: false, strict: false });
  const validateRecipe = ajv.compile({ type: 'object', properties: { augment: augmentSchema } });
  const validate = Object.assign((section: unknown) => validateRecipe({ augment: section }), {
    get errors() { return validateRecipe.errors; },
  });

  it('fills only preset and strength, so presets keep their own values', () => {
    const section: Record<string, unknown> = {};
    expect(validate(section)).toBe(true);
    expect(section).toEqual({ preset: 'digits', strength: 1 });
    const recipe: Record<string, unknown> = {};
    expect(validateRecipe(recipe)).toBe(true);
    expect(recipe).toEqual({ augment: { preset: 'digits', strength: 1 } });
    const mocov2 = { preset: 'mocov2' };
    expect(validate(mocov2)).toBe(true);
    expect(resolveAugment(mocov2).view1.crop.scale).toEqual([0.2, 1]);
  });

  it('accepts every knob at both levels and rejects unknown keys at every level', () => {
    const full = {
      preset: 'simclr', strength: 0.5, mean: [0.5, 0.5, 0.5], std: [0.2, 0.2, 0.2],
      crop: { scale: [0.2, 1], ratio: [0.5, 2] }, flip: { p: 0.5 },
      jitter: { p: 0.8, brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1 }, grayscale: { p: 0.2 },
      blur: { p: 0.5, sigma: [0.1, 2], kernel_fraction: 0.1, min_size: 32 }, solarize: { p: 0.2, threshold: 0.5 },
      view1: { blur: { p: 1 } }, view2: { blur: { p: 0.1 }, solarize: { p: 0.2 } },
    };
    expect(validate(full), JSON.stringify(validate.errors)).toBe(true);
    expect(resolveAugment(full).view2.blur.minSize).toBe(32);
    for (const bad of [{ colour: 1 }, { jitter: { pp: 1 } }, { view1: { zoom: {} } }, { view2: { crop: { area: [0, 1] } } }]) {
      expect(validate({ preset: 'simclr', ...bad })).toBe(false);
    }
    expect(validate({ preset: 'simclr', flip: { p: 2 } })).toBe(false);
    expect(validate({ preset: 'moco' })).toBe(false);
  });
});
