// Recipe section `augment`: a preset with the papers' defaults plus optional
// overrides for every knob, for both views at once or per view (`view1`, `view2`).
// Knob overrides deliberately carry no `default`: Ajv's useDefaults would fill
// them in and silently replace the chosen preset's values. Only `preset` and
// `strength` have defaults; everything else comes from the preset.

export type AugmentPreset = 'simclr' | 'mocov2' | 'mocov3' | 'digits' | 'none';
export const AUGMENT_PRESETS: readonly AugmentPreset[] = ['simclr', 'mocov2', 'mocov3', 'digits', 'none'];

export type Range = [number, number];

/** Per-view knobs, every one optional (absent = the preset's value). */
export interface AugmentViewOverrides {
  crop?: { scale?: Range; ratio?: Range };
  flip?: { p?: number };
  jitter?: { p?: number; brightness?: number; contrast?: number; saturation?: number; hue?: number };
  grayscale?: { p?: number };
  blur?: { p?: number; sigma?: Range; kernel_fraction?: number; min_size?: number };
  solarize?: { p?: number; threshold?: number };
}

export interface AugmentSectionConfig extends AugmentViewOverrides {
  preset: AugmentPreset;
  /** Multiplies the preset's jitter strengths (SimCLR's color-distortion strength s). */
  strength?: number;
  /** Per-channel normalization; absent = the dataset's statistics, else 0.5 / 0.5. */
  mean?: number[];
  std?: number[];
  view1?: AugmentViewOverrides;
  view2?: AugmentViewOverrides;
}

const prob = { type: 'number', minimum: 0, maximum: 1 } as const;
const range = (lo: number, hi: number, what: string) => ({
  type: 'array', minItems: 2, maxItems: 2, items: { type: 'number', minimum: lo, maximum: hi }, description: what,
} as const);
const strengthKnob = { type: 'number', minimum: 0 } as const;

const viewProperties = {
  crop: {
    type: 'object', additionalProperties: false,
    properties: {
      scale: range(0, 1, '[lo, hi] fraction of the image area a random crop covers'),
      ratio: range(0, 100, '[lo, hi] aspect ratio (width / height) of a random crop, sampled log-uniformly'),
    },
  },
  flip: { type: 'object', additionalProperties: false, properties: { p: prob } },
  jitter: {
    type: 'object', additionalProperties: false,
    description: 'color jitter, applied with probability p, its four ops in random order',
    properties: {
      p: prob,
      brightness: strengthKnob,
      contrast: strengthKnob,
      saturation: strengthKnob,
      hue: { type: 'number', minimum: 0, maximum: 0.5 },
    },
  },
  grayscale: { type: 'object', additionalProperties: false, properties: { p: prob } },
  blur: {
    type: 'object', additionalProperties: false,
    properties: {
      p: prob,
      sigma: range(0, 100, '[lo, hi] gaussian sigma in output pixels'),
      kernel_fraction: { type: 'number', exclusiveMinimum: 0, maximum: 1, description: 'kernel side as a fraction of the image side (made odd)' },
      min_size: { type: 'integer', minimum: 0, description: 'no blur for output images smaller than this' },
    },
  },
  solarize: {
    type: 'object', additionalProperties: false,
    properties: { p: prob, threshold: { type: 'number', minimum: 0, maximum: 1, description: 'pixels >= threshold (0..1 scale) are inverted' } },
  },
} as const;

const viewSchema = { type: 'object', additionalProperties: false, properties: viewProperties } as const;
const channelStats = { type: 'array', minItems: 1, maxItems: 3, items: { type: 'number' } } as const;

export const augmentSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    preset: { enum: [...AUGMENT_PRESETS], default: 'digits', description: 'simclr | mocov2 | mocov3 | digits | none' },
    strength: { type: 'number', minimum: 0, default: 1, description: 'multiplies the preset jitter strengths (SimCLR s)' },
    mean: { ...channelStats, description: 'per-channel mean on the 0..1 scale' },
    std: { ...channelStats, items: { type: 'number', exclusiveMinimum: 0 }, description: 'per-channel std on the 0..1 scale' },
    ...viewProperties,
    view1: viewSchema,
    view2: viewSchema,
  },
} as const;
