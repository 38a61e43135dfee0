// The small module system the models use. Like PyTorch's nn.Module but minimal:
// parameters are tf.Variables with stable names (used by checkpoints, export,
// the EMA key encoder and LARS's exclusion rules), buffers hold non-trained
// state such as batch-norm running statistics.
import * as tf from '@tensorflow/tfjs';

/** What a parameter is, so optimizers can treat them differently (LARS skips bias/bn). */
export type ParamKind = 'weight' | 'bias' | 'bn';

export interface NamedVariable {
  /** Stable, unique within the model, e.g. 'backbone/layer1.0/conv1/kernel'. */
  readonly name: string;
  readonly variable: tf.Variable;
  readonly kind: ParamKind;
}

export interface Module {
  /** Runs the module. `training` selects batch statistics (and updates running stats) vs running stats. */
  apply(x: tf.Tensor, training: boolean): tf.Tensor;
  /** Trainable parameters, in a fixed order. */
  params(): NamedVariable[];
  /** Non-trainable state (batch-norm running mean/variance), in a fixed order. */
  buffers(): NamedVariable[];
}

/** Output feature width of a backbone (what a head or a probe consumes). */
export interface Backbone extends Module {
  readonly featureDim: number;
  readonly config: Readonly<Record<string, unknown>>;
}

export function allVariables(m: Module): NamedVariable[] {
  return [...m.params(), ...m.buffers()];
}

export function disposeModule(m: Module): void {
  for (const v of allVariables(m)) v.variable.dispose();
}

/** Copies every variable of `src` into `dst` (same names, same shapes), e.g. to initialise a key encoder. */
export function copyWeights(src: Module, dst: Module): void {
  const a = allVariables(src);
  const b = allVariables(dst);
  if (a.length !== b.length) throw new Error(`copyWeights: ${a.length} vs ${b.length} variables`);
  for (let i = 0; i < a.length; i++) b[i].variable.assign(a[i].variable);
}

export function countParams(m: Module): number {
  return m.params().reduce((s, p) => s + p.variable.size, 0);
}
