// Parameterised layers (conv, batch norm, linear) as Modules with named variables.
// Initialisation follows torchvision/PyTorch so recipes tuned there transfer:
// Kaiming-normal (fan_out, relu) for convolutions, U(-1/sqrt(in), 1/sqrt(in)) for linear layers.
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../util/rng.ts';
import type { Module, NamedVariable, ParamKind } from './module.ts';
import { batchNorm, batchNormAct, conv2d, convBatchNormInfer, fuseInference, linear, type BatchNormActivation, type BatchNormVars } from './ops.ts';

/** Wraps `t` in a variable; the variable keeps the data, `t` itself is released. */
function named(name: string, kind: ParamKind, t: tf.Tensor, trainable = true): NamedVariable {
  const variable = tf.variable(t, trainable);
  t.dispose();
  return { name, kind, variable };
}

export class Conv2d implements Module {
  readonly kernel: NamedVariable;
  constructor(readonly name: string, inC: number, outC: number, readonly size: number, readonly stride: number, rng: Rng) {
    const std = Math.sqrt(2 / (size * size * outC));
    this.kernel = named(`${name}/kernel`, 'weight', tf.tidy(() => tf.randomNormal([size, size, inC, outC], 0, std, 'float32', rng.seed())));
  }
  apply(x: tf.Tensor, _training: boolean): tf.Tensor4D {
    return conv2d(x as tf.Tensor4D, this.kernel.variable as tf.Tensor4D, this.stride);
  }
  params(): NamedVariable[] { return [this.kernel]; }
  buffers(): NamedVariable[] { return []; }
}

export class BatchNorm implements Module {
  readonly gamma: NamedVariable;
  readonly beta: NamedVariable;
  readonly movingMean: NamedVariable;
  readonly movingVariance: NamedVariable;
  /** >1 normalizes G slices of the batch separately (MoCo's split BN). Set by the method. */
  groups = 1;
  constructor(readonly name: string, channels: number) {
    this.gamma = named(`${name}/gamma`, 'bn', tf.ones([channels]));
    this.beta = named(`${name}/beta`, 'bn', tf.zeros([channels]));
    this.movingMean = named(`${name}/moving_mean`, 'bn', tf.zeros([channels]), false);
    this.movingVariance = named(`${name}/moving_variance`, 'bn', tf.ones([channels]), false);
  }
  vars(): BatchNormVars {
    return {
      gamma: this.gamma.variable, beta: this.beta.variable,
      movingMean: this.movingMean.variable, movingVariance: this.movingVariance.variable,
    };
  }
  apply(x: tf.Tensor, training: boolean): tf.Tensor {
    return batchNorm(x, this.vars(), training, this.groups);
  }
  /** relu?(bn(x) + residual?), fused into one op where the backend has it. */
  applyAct(x: tf.Tensor, training: boolean, act: BatchNormActivation): tf.Tensor {
    return batchNormAct(x, this.vars(), training, act, this.groups);
  }
  params(): NamedVariable[] { return [this.gamma, this.beta]; }
  buffers(): NamedVariable[] { return [this.movingMean, this.movingVariance]; }
}

/**
 * relu?(bn(conv(x)) + residual?). In eval mode on the native backend (no
 * gradient tape) the batch norm is folded into the convolution; otherwise it is
 * exactly conv.apply then bn.apply / bn.applyAct.
 */
export function convBatchNorm(conv: Conv2d, bn: BatchNorm, x: tf.Tensor, training: boolean, act: BatchNormActivation = {}): tf.Tensor {
  if (!training && fuseInference()) {
    return convBatchNormInfer(x as tf.Tensor4D, conv.kernel.variable as tf.Tensor4D, conv.stride, bn.vars(), act);
  }
  const y = conv.apply(x, training);
  return act.relu || act.residual ? bn.applyAct(y, training, act) : bn.apply(y, training);
}

export class Linear implements Module {
  readonly kernel: NamedVariable;
  readonly bias?: NamedVariable;
  constructor(readonly name: string, inF: number, outF: number, rng: Rng, useBias = true) {
    const bound = 1 / Math.sqrt(inF);
    this.kernel = named(`${name}/kernel`, 'weight', tf.tidy(() => tf.randomUniform([inF, outF], -bound, bound, 'float32', rng.seed())));
    if (useBias) this.bias = named(`${name}/bias`, 'bias', tf.tidy(() => tf.randomUniform([outF], -bound, bound, 'float32', rng.seed())));
  }
  apply(x: tf.Tensor, _training: boolean): tf.Tensor2D {
    return linear(x as tf.Tensor2D, this.kernel.variable as tf.Tensor2D, this.bias?.variable as tf.Tensor1D | undefined);
  }
  params(): NamedVariable[] { return this.bias ? [this.kernel, this.bias] : [this.kernel]; }
  buffers(): NamedVariable[] { return []; }
}

/** Modules applied in order; collects their variables in order. */
export class Sequential implements Module {
  constructor(readonly layers: Module[], private readonly activations: ('relu' | null)[] = []) {}
  apply(x: tf.Tensor, training: boolean): tf.Tensor {
    let h = x;
    this.layers.forEach((l, i) => {
      const relu = this.activations[i] === 'relu';
      if (relu && l instanceof BatchNorm) h = l.applyAct(h, training, { relu: true });
      else {
        h = l.apply(h, training);
        if (relu) h = tf.relu(h);
      }
    });
    return h;
  }
  params(): NamedVariable[] { return this.layers.flatMap((l) => l.params()); }
  buffers(): NamedVariable[] { return this.layers.flatMap((l) => l.buffers()); }
}
