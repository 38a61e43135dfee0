// What a self-supervised method is, as the trainer sees it: how a batch of two
// views becomes a loss, and what extra state it keeps. The trainer owns the loop,
// the optimizer, checkpoints and logging.
import type * as tf from '@tensorflow/tfjs';
import type { Backbone, Module, NamedVariable } from '../models/module.ts';

export interface StepContext {
  /** Global step, 0-based, of the step being taken. */
  step: number;
  totalSteps: number;
  epoch: number;
  /** Labels of the batch's images (when the data has them); metric-learning methods need them. */
  labels?: Int32Array;
}

export interface Method {
  readonly name: string;
  /** The encoder being pretrained; what gets evaluated and exported. */
  readonly backbone: Backbone;
  /** The projection head, when the method has one (what `eval.embedding: head` evaluates). */
  readonly head?: Module;
  /** Variables the optimizer updates (backbone + heads on the gradient side). */
  trainable(): NamedVariable[];
  /** Everything else a checkpoint must hold to resume exactly: BN running stats, key encoder, queue... */
  state(): NamedVariable[];
  /**
   * Work outside the gradient tape before the step (MoCo: keys from the key
   * encoder). The returned tensors are passed to loss() and afterStep(); the
   * trainer disposes them after the step.
   */
  beforeStep?(view1: tf.Tensor4D, view2: tf.Tensor4D, ctx: StepContext): tf.Tensor[];
  /** The loss, computed under the gradient tape. */
  loss(view1: tf.Tensor4D, view2: tf.Tensor4D, ctx: StepContext, pre: tf.Tensor[]): tf.Scalar;
  /**
   * Named parts of the last loss() (VICReg's invariance / variance / covariance...), as
   * tensors kept out of the tape's scope; the step reads them with the loss, logs them as
   * train/<name> and disposes them. Called once after each loss().
   */
  takeLossParts?(): Record<string, tf.Scalar>;
  /** After the optimizer update (MoCo: momentum update of the key encoder, enqueue keys). */
  afterStep?(ctx: StepContext, pre: tf.Tensor[]): void;
  /** Scalars worth logging besides the loss (e.g. the current momentum). */
  metrics?(ctx: StepContext): Record<string, number>;
  dispose(): void;
}
