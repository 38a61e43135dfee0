// A checkpoint whose weights are all finite can still be diverged: after one
// huge update (optim.lr far too high) the activations overflow float32 and every
// embedding is NaN. Evaluated, exported or indexed, such a model gave nonsense
// numbers, then a stack overflow deep in UMAP, an export that "differs from the
// backbone", or an index that looked corrupt. These checks name the model instead.
import * as tf from '@tensorflow/tfjs';
import type { Backbone } from '../models/module.ts';
import { UserError } from '../util/errors.ts';
import { Rng } from '../util/rng.ts';

const HINT = 'its weights diverged in training; use an earlier checkpoint, or train again with a lower optim.lr';

/**
 * One inference-mode forward pass of the backbone on a small seeded batch; throws a UserError
 * naming `what` if any output is NaN or infinite.
 */
export async function assertFiniteOutputs(backbone: Backbone, inputShape: readonly [number, number, number], what: string): Promise<void> {
  if (!(await outputsAreFinite(backbone, inputShape))) throw nonFinite(what);
}

/** The same forward pass, as a yes/no (for callers with their own error, e.g. training's NonFiniteError). */
export async function outputsAreFinite(backbone: Backbone, inputShape: readonly [number, number, number]): Promise<boolean> {
  const x = tf.randomNormal([2, ...inputShape], 0, 1, 'float32', new Rng('finite-outputs').seed()) as tf.Tensor4D;
  const y = tf.tidy(() => backbone.apply(x, false));
  try {
    return ((await y.data()) as Float32Array).every(Number.isFinite);
  } finally {
    tf.dispose([x, y]);
  }
}

/** The same check on outputs already computed (e.g. a batch of embeddings). */
export function assertFiniteValues(values: ArrayLike<number>, what: string): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) throw nonFinite(what);
  }
}

function nonFinite(what: string): UserError {
  return new UserError(`${what} gives non-finite outputs (NaN or Infinity): ${HINT}`);
}
