// The two-view augmenter the methods consume: a uint8 batch in, two
// normalized float32 NHWC view tensors out (owned by the caller).
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../src/util/errors.ts';
import type { Rng } from '../src/util/rng.ts';
import type { ImageBatchLike, ResolvedAugment, ViewConfig } from './config.ts';
import { blurKernelSize } from './ops/blur.ts';
import { cropBoxes, cropResize } from './ops/crop.ts';
import { applyColorSteps } from './ops/colorStage.ts';
import { colorSteps } from './color.ts';
import { normalize } from './ops/normalize.ts';
import { centerCrop, identityParams, sampleViewParams, type ViewParams } from './params.ts';
import { applyView, type ViewShape } from './pipeline.ts';

export interface AugmenterOptions {
  /** Side of the (square) output views. */
  outSize: number;
  /** Channels of the output views; the input may have 1 or 3. */
  channels: 1 | 3;
  /** Per-channel normalization on the 0..1 scale (e.g. the dataset's); the recipe's augment.mean/std win. */
  mean?: number[];
  std?: number[];
}

export interface TwoViews { view1: tf.Tensor4D; view2: tf.Tensor4D }

export class TwoViewAugmenter {
  readonly mean: readonly number[];
  readonly std: readonly number[];
  private readonly shapes: [ViewShape, ViewShape];

  constructor(readonly cfg: ResolvedAugment, readonly opts: AugmenterOptions) {
    if (!Number.isInteger(opts.outSize) || opts.outSize < 1) throw new UserError(`augment: output size ${opts.outSize} must be a positive integer`);
    if (opts.channels !== 1 && opts.channels !== 3) throw new UserError(`augment: channels ${String(opts.channels)} must be 1 or 3`);
    this.mean = channelStats(cfg.mean ?? opts.mean, opts.channels, 'augment.mean', 0.5);
    this.std = channelStats(cfg.std ?? opts.std, opts.channels, 'augment.std', 0.5);
    const shape = (v: ViewConfig): ViewShape => ({
      outSize: opts.outSize,
      channels: opts.channels,
      mean: this.mean,
      std: this.std,
      blurKernel: v.blur.p > 0 ? blurKernelSize(opts.outSize, v.blur.kernelFraction, v.blur.minSize) : 0,
      solarizeThreshold: v.solarize.threshold,
    });
    this.shapes = [shape(cfg.view1), shape(cfg.view2)];
  }

  /**
   * Draws both views' parameters. Each view gets its own fork of `rng`, so the two are
   * independent and adding knobs to one never shifts the other's draws.
   */
  sampleParams(batch: Pick<ImageBatchLike, 'n' | 'height' | 'width'>, rng: Rng): [ViewParams, ViewParams] {
    const r1 = rng.fork('view1'), r2 = rng.fork('view2');
    const { n, height, width } = batch;
    return [
      sampleViewParams(this.cfg.view1, n, height, width, r1, this.shapes[0].blurKernel > 0),
      sampleViewParams(this.cfg.view2, n, height, width, r2, this.shapes[1].blurKernel > 0),
    ];
  }

  /** Two augmented views of every image; same batch + same rng state = same tensors, bit for bit. */
  views(batch: ImageBatchLike, rng: Rng): TwoViews {
    checkBatch(batch);
    const [p1, p2] = this.sampleParams(batch, rng);
    return this.apply(batch, p1, p2);
  }

  /** The views for given parameters (what views() runs after drawing them). */
  apply(batch: ImageBatchLike, p1: ViewParams, p2: ViewParams): TwoViews {
    checkBatch(batch);
    return tf.tidy(() => {
      const images = uploadBatch(batch);
      return { view1: applyView(images, p1, this.shapes[0]), view2: applyView(images, p2, this.shapes[1]) };
    });
  }

  /** Deterministic transform for evaluation features: center square crop, resize, normalize. */
  evalTransform(batch: ImageBatchLike): tf.Tensor4D {
    return evalTransform(batch, { outSize: this.opts.outSize, channels: this.opts.channels, mean: [...this.mean], std: [...this.std] });
  }
}

/** Center square crop, bilinear resize to outSize, channel conversion, normalization. */
export function evalTransform(batch: ImageBatchLike, opts: AugmenterOptions): tf.Tensor4D {
  checkBatch(batch);
  const mean = channelStats(opts.mean, opts.channels, 'augment.mean', 0.5);
  const std = channelStats(opts.std, opts.channels, 'augment.std', 0.5);
  const { n, height: H, width: W, channels: cin } = batch;
  const p = identityParams(n, centerCrop(H, W, [1, 1]));
  return tf.tidy(() => {
    const x = cropResize(uploadBatch(batch), cropBoxes(p, H, W), opts.outSize);
    const steps = colorSteps(p, cin, opts.channels, 1 / 255);
    return steps.length > 0 ? normalize(applyColorSteps(x, steps), mean, std) : normalize(x, mean, std, 1 / 255);
  });
}

/** uint8 HWC bytes -> float32 [n,H,W,C] holding 0..255 (the typed-array constructor converts natively). */
function uploadBatch(b: ImageBatchLike): tf.Tensor4D {
  return tf.tensor4d(new Float32Array(b.data), [b.n, b.height, b.width, b.channels]);
}

function checkBatch(b: ImageBatchLike): void {
  if (b.channels !== 1 && b.channels !== 3) throw new Error(`augment: images have ${b.channels} channels; expected 1 or 3`);
  if (!(b.n > 0 && b.height > 0 && b.width > 0)) throw new Error(`augment: empty batch ${b.n}x${b.height}x${b.width}`);
  if (b.data.length !== b.n * b.height * b.width * b.channels) {
    throw new Error(`augment: ${b.data.length} bytes for ${b.n}x${b.height}x${b.width}x${b.channels} images`);
  }
}

/** A per-channel list from 1 or `c` values (one value is repeated); `fallback` when absent. */
function channelStats(v: readonly number[] | undefined, c: number, key: string, fallback: number): number[] {
  if (v === undefined) return new Array<number>(c).fill(fallback);
  if (v.length === 1) return new Array<number>(c).fill(v[0]);
  if (v.length !== c) throw new UserError(`${key}: ${v.length} values for ${c}-channel images; give 1 or ${c}`);
  return [...v];
}
