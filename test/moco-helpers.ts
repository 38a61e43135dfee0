// Shared by the MoCo tests: a tiny recipe and deterministic synthetic views.
import * as tf from '@tensorflow/tfjs';
import { validateRecipe, type Recipe } from '../src/recipe/index.ts';
import { Rng } from '../src/util/rng.ts';

type Raw = Parameters<typeof validateRecipe>[0];

/** 8x8 grey images, a [4, 8] ResNet, a 16 -> 8 head; `method` and `train` overrides merged in. */
export function tinyRecipe(method: Record<string, unknown>, train: Record<string, unknown> = {}, optim: Record<string, unknown> = {}): Recipe {
  return validateRecipe({
    data: { channels: 1, image_size: 8 },
    model: { widths: [4, 8], blocks: [1, 1], head_hidden: 16, head_out: 8 },
    method, train: { batch_size: 8, ...train }, optim,
  } as unknown as Raw, 'test');
}

/**
 * A pool of 256 fixed random images (the "dataset") and, for a step, a batch of
 * them with two independently noised views. Each image is its own instance, so
 * instance discrimination, what MoCo's loss asks for, is learnable.
 */
export function syntheticViews(step: number, batch: number, noise = 0.2): { view1: tf.Tensor4D; view2: tf.Tensor4D } {
  const pool = new Rng('synthetic-pool');
  const images = Float32Array.from({ length: 256 * 64 }, () => pool.next());
  const rng = new Rng(`synthetic:${step}`);
  return tf.tidy(() => {
    const base = new Float32Array(batch * 64);
    for (let i = 0; i < batch; i++) {
      const j = rng.int(256);
      base.set(images.subarray(j * 64, (j + 1) * 64), i * 64);
    }
    const clean = tf.tensor4d(base, [batch, 8, 8, 1]);
    const view = () => tf.add(clean, tf.randomNormal([batch, 8, 8, 1], 0, noise, 'float32', rng.seed())) as tf.Tensor4D;
    return { view1: view(), view2: view() };
  });
}
