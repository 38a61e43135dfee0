// The optimizer contract the trainer and the checkpoint code rely on. Gradients
// come in from outside (the trainer computes them with tf.variableGrads), so an
// optimizer here is only "how a gradient becomes an in-place update", plus the
// state (slots) that must survive a checkpoint for a resume to be exact.
import type * as tf from '@tensorflow/tfjs';

export interface OptimizerSlot {
  /** Stable across runs for the same model and optimizer, e.g. 'head/fc1/kernel/momentum'. */
  readonly name: string;
  readonly tensor: tf.Variable;
}

export interface Optimizer {
  /**
   * Applies one update to every parameter that has an entry in `grads` (keyed by
   * NamedVariable.name; parameters without one are left alone, like PyTorch's
   * `grad is None`). Does not dispose `grads`: the caller owns them.
   */
  step(grads: Map<string, tf.Tensor>, lr: number): void;
  /** Every piece of optimizer state, for checkpoints. Same names and order on every call. */
  slots(): OptimizerSlot[];
  /** Restores state saved from `slots()`; every slot must be present, extra entries are ignored. */
  loadSlots(slots: Map<string, Float32Array | tf.Tensor>): void;
  /** Frees the slot variables (not the parameters). */
  dispose(): void;
  readonly kind: string;
}
