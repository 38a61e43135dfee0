// Preset + recipe overrides -> one fully specified ViewConfig per view.
// Order: preset, jitter scaled by `strength`, section-level knobs (both views),
// then `view1` / `view2` knobs. Every value is checked here, so a bad recipe
// fails with a message naming the key, even when called without the schema.
import { UserError } from '../src/util/errors.ts';
import { AUGMENT_PRESETS } from '../src/recipe/sections/augment.ts';
import type { AugmentConfig, AugmentPreset, AugmentViewOverrides, Range, ResolvedAugment, ViewConfig } from './config.ts';
import { presetViews } from './presets.ts';

const VIEW_KEYS: Record<keyof AugmentViewOverrides, readonly string[]> = {
  crop: ['scale', 'ratio'],
  flip: ['p'],
  jitter: ['p', 'brightness', 'contrast', 'saturation', 'hue'],
  grayscale: ['p'],
  blur: ['p', 'sigma', 'kernel_fraction', 'min_size'],
  solarize: ['p', 'threshold'],
};
const TOP_KEYS = ['preset', 'strength', 'mean', 'std', 'view1', 'view2', ...Object.keys(VIEW_KEYS)];

/** Anything shaped like the recipe section; absent keys fall back to the preset. */
export type AugmentInput = Partial<AugmentConfig> | Record<string, unknown> | undefined;

export function resolveAugment(input: AugmentInput): ResolvedAugment {
  const cfg = (input ?? {}) as Record<string, unknown>;
  checkKeys(cfg, TOP_KEYS, 'augment');
  const preset = (cfg.preset ?? 'digits') as AugmentPreset;
  if (!AUGMENT_PRESETS.includes(preset)) {
    throw new UserError(`augment.preset: '${String(cfg.preset)}' is not a preset; valid: ${AUGMENT_PRESETS.join(', ')}`);
  }
  const strength = cfg.strength === undefined ? 1 : num(cfg.strength, 'augment.strength', 0, Infinity);
  const views = presetViews(preset);
  for (const v of views) scaleJitter(v, strength);
  for (const v of views) applyOverrides(v, cfg as AugmentViewOverrides, 'augment');
  (['view1', 'view2'] as const).forEach((key, i) => {
    if (cfg[key] === undefined) return;
    const o = obj(cfg[key], `augment.${key}`);
    checkKeys(o, Object.keys(VIEW_KEYS), `augment.${key}`);
    applyOverrides(views[i], o as AugmentViewOverrides, `augment.${key}`);
  });
  const out: ResolvedAugment = { preset, view1: views[0], view2: views[1] };
  if (cfg.mean !== undefined) out.mean = stats(cfg.mean, 'augment.mean', false);
  if (cfg.std !== undefined) out.std = stats(cfg.std, 'augment.std', true);
  return out;
}

function scaleJitter(v: ViewConfig, s: number): void {
  v.jitter.brightness *= s;
  v.jitter.contrast *= s;
  v.jitter.saturation *= s;
  v.jitter.hue = Math.min(0.5, v.jitter.hue * s);
}

function applyOverrides(v: ViewConfig, o: AugmentViewOverrides, at: string): void {
  for (const k of Object.keys(VIEW_KEYS) as (keyof AugmentViewOverrides)[]) {
    if (o[k] !== undefined) checkKeys(obj(o[k], `${at}.${k}`), VIEW_KEYS[k], `${at}.${k}`);
  }
  const { crop, flip, jitter, grayscale, blur, solarize } = o;
  if (crop?.scale !== undefined) v.crop.scale = rng(crop.scale, `${at}.crop.scale`, 0, 1, true);
  if (crop?.ratio !== undefined) v.crop.ratio = rng(crop.ratio, `${at}.crop.ratio`, 0, Infinity, true);
  if (flip?.p !== undefined) v.flip.p = prob(flip.p, `${at}.flip.p`);
  if (jitter) {
    if (jitter.p !== undefined) v.jitter.p = prob(jitter.p, `${at}.jitter.p`);
    for (const k of ['brightness', 'contrast', 'saturation'] as const) {
      if (jitter[k] !== undefined) v.jitter[k] = num(jitter[k], `${at}.jitter.${k}`, 0, Infinity);
    }
    if (jitter.hue !== undefined) v.jitter.hue = num(jitter.hue, `${at}.jitter.hue`, 0, 0.5);
  }
  if (grayscale?.p !== undefined) v.grayscale.p = prob(grayscale.p, `${at}.grayscale.p`);
  if (blur) {
    if (blur.p !== undefined) v.blur.p = prob(blur.p, `${at}.blur.p`);
    if (blur.sigma !== undefined) v.blur.sigma = rng(blur.sigma, `${at}.blur.sigma`, 0, Infinity, true);
    if (blur.kernel_fraction !== undefined) v.blur.kernelFraction = num(blur.kernel_fraction, `${at}.blur.kernel_fraction`, 0, 1, true);
    if (blur.min_size !== undefined) v.blur.minSize = num(blur.min_size, `${at}.blur.min_size`, 0, Infinity);
  }
  if (solarize?.p !== undefined) v.solarize.p = prob(solarize.p, `${at}.solarize.p`);
  if (solarize?.threshold !== undefined) v.solarize.threshold = num(solarize.threshold, `${at}.solarize.threshold`, 0, 1);
}

function checkKeys(o: Record<string, unknown>, valid: readonly string[], at: string): void {
  for (const k of Object.keys(o)) {
    if (!valid.includes(k)) throw new UserError(`${at}: unknown key '${k}'; valid keys: ${valid.join(', ')}`);
  }
}

function obj(v: unknown, at: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new UserError(`${at}: expected a mapping, got ${JSON.stringify(v)}`);
  return v as Record<string, unknown>;
}

/** A finite number in [lo, hi] (or (lo, hi] when openLo). */
function num(v: unknown, at: string, lo: number, hi: number, openLo = false): number {
  const ok = typeof v === 'number' && Number.isFinite(v) && (openLo ? v > lo : v >= lo) && v <= hi;
  if (!ok) {
    const bounds = `${openLo ? '(' : '['}${lo}, ${hi === Infinity ? 'inf)' : `${hi}]`}`;
    throw new UserError(`${at}: ${JSON.stringify(v)} is not a number in ${bounds}`);
  }
  return v as number;
}

function prob(v: unknown, at: string): number { return num(v, at, 0, 1); }

function rng(v: unknown, at: string, lo: number, hi: number, openLo: boolean): Range {
  if (!Array.isArray(v) || v.length !== 2) throw new UserError(`${at}: expected [lo, hi], got ${JSON.stringify(v)}`);
  const a = num(v[0], `${at}[0]`, lo, hi, openLo);
  const b = num(v[1], `${at}[1]`, lo, hi, openLo);
  if (a > b) throw new UserError(`${at}: lo ${a} is greater than hi ${b}`);
  return [a, b];
}

function stats(v: unknown, at: string, positive: boolean): number[] {
  if (!Array.isArray(v) || (v.length !== 1 && v.length !== 3)) {
    throw new UserError(`${at}: expected a list of 1 or 3 numbers (one per channel), got ${JSON.stringify(v)}`);
  }
  return v.map((x, i) => num(x, `${at}[${i}]`, positive ? 0 : -Infinity, Infinity, positive));
}
