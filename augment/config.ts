// The resolved (fully specified) augmentation settings the pipeline runs on.
// The recipe section (src/recipe/sections/augment.ts) holds a preset name and
// sparse overrides; resolve.ts turns that into one ViewConfig per view.
import type { AugmentPreset, Range } from '../src/recipe/sections/augment.ts';

export type { AugmentPreset, Range };
export type { AugmentSectionConfig as AugmentConfig, AugmentViewOverrides } from '../src/recipe/sections/augment.ts';

/** Everything one view's transform needs; every probability in [0, 1]. */
export interface ViewConfig {
  /** Random resized crop: area fraction and aspect-ratio (w/h) ranges, as torchvision's RandomResizedCrop. */
  crop: { scale: Range; ratio: Range };
  flip: { p: number };
  /** Factors drawn as torchvision's ColorJitter: brightness/contrast/saturation in [max(0,1-s), 1+s], hue in [-h, h]. */
  jitter: { p: number; brightness: number; contrast: number; saturation: number; hue: number };
  grayscale: { p: number };
  /** Kernel side = kernelFraction * output side, made odd; no blur below minSize or when the kernel would be < 3. */
  blur: { p: number; sigma: Range; kernelFraction: number; minSize: number };
  /** Pixels >= threshold (on the 0..1 scale) become 1 - pixel. */
  solarize: { p: number; threshold: number };
}

export interface ResolvedAugment {
  preset: AugmentPreset;
  view1: ViewConfig;
  view2: ViewConfig;
  /** Per-channel normalization from the recipe; undefined = the augmenter's options decide. */
  mean?: number[];
  std?: number[];
}

/** A batch of uint8 HWC images packed back to back (n * height * width * channels bytes). */
export interface ImageBatchLike {
  data: Uint8Array;
  n: number;
  height: number;
  width: number;
  channels: number;
}

export function cloneView(v: ViewConfig): ViewConfig {
  return {
    crop: { scale: [...v.crop.scale], ratio: [...v.crop.ratio] },
    flip: { ...v.flip },
    jitter: { ...v.jitter },
    grayscale: { ...v.grayscale },
    blur: { ...v.blur, sigma: [...v.blur.sigma] },
    solarize: { ...v.solarize },
  };
}
