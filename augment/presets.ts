// The papers' default augmentations, as resolved per-view configs.
//   SimCLR (Chen et al. 2020, appendix A): crop 0.08-1, flip, jitter (0.8s,0.8s,0.8s,0.2s) p=0.8,
//     grayscale p=0.2, blur p=0.5 with sigma 0.1-2 and a kernel of 10% of the side — ImageNet only;
//     the CIFAR experiments drop it, hence min_size 64.
//   MoCo v2 (Chen et al. 2020): crop 0.2-1, jitter (0.4,0.4,0.4,0.1) p=0.8, grayscale 0.2, blur p=0.5, flip.
//   MoCo v3 (Chen, Xie, He 2021), BYOL-style asymmetric views: crop 0.08-1, jitter (0.4,0.4,0.2,0.1)
//     p=0.8, grayscale 0.2, flip; view 1 blur p=1.0; view 2 blur p=0.1 and solarize p=0.2.
//   digits: for MNIST-like data, mild crops, no flip (a mirrored 2 is not a 2), no hue/saturation.
//   none: the whole (center-square) image, nothing random.
import type { AugmentPreset, ViewConfig } from './config.ts';
import { cloneView } from './config.ts';

const RATIO: [number, number] = [3 / 4, 4 / 3];
const SIGMA: [number, number] = [0.1, 2.0];

function view(p: Partial<{ [K in keyof ViewConfig]: Partial<ViewConfig[K]> }>): ViewConfig {
  return {
    crop: { scale: [0.08, 1], ratio: RATIO, ...p.crop },
    flip: { p: 0.5, ...p.flip },
    jitter: { p: 0.8, brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1, ...p.jitter },
    grayscale: { p: 0.2, ...p.grayscale },
    blur: { p: 0, sigma: SIGMA, kernelFraction: 0.1, minSize: 0, ...p.blur },
    solarize: { p: 0, threshold: 0.5, ...p.solarize },
  };
}

const simclr = view({
  jitter: { brightness: 0.8, contrast: 0.8, saturation: 0.8, hue: 0.2 },
  blur: { p: 0.5, minSize: 64 },
});
const mocov2 = view({ crop: { scale: [0.2, 1] }, blur: { p: 0.5 } });
const mocov3Base = { jitter: { saturation: 0.2 } };
const mocov3v1 = view({ ...mocov3Base, blur: { p: 1.0 } });
const mocov3v2 = view({ ...mocov3Base, blur: { p: 0.1 }, solarize: { p: 0.2 } });
const digits = view({
  crop: { scale: [0.5, 1] },
  flip: { p: 0 },
  jitter: { brightness: 0.4, contrast: 0.4, saturation: 0, hue: 0 },
  grayscale: { p: 0 },
});
const none = view({
  crop: { scale: [1, 1], ratio: [1, 1] },
  flip: { p: 0 },
  jitter: { p: 0, brightness: 0, contrast: 0, saturation: 0, hue: 0 },
  grayscale: { p: 0 },
});

const PRESETS: Record<AugmentPreset, [ViewConfig, ViewConfig]> = {
  simclr: [simclr, simclr],
  mocov2: [mocov2, mocov2],
  mocov3: [mocov3v1, mocov3v2],
  digits: [digits, digits],
  none: [none, none],
};

/** Fresh copies of a preset's two view configs (callers may mutate them). */
export function presetViews(name: AugmentPreset): [ViewConfig, ViewConfig] {
  const [a, b] = PRESETS[name];
  return [cloneView(a), cloneView(b)];
}
