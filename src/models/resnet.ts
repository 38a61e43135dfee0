// ResNet backbones for small images (CIFAR stem: one 3x3 conv, no max-pool), as
// the SimCLR / MoCo CIFAR experiments use. `resnet` takes any widths/blocks (the
// small models the quickstart and the benchmark use); `resnet18` is the standard
// [64,128,256,512] x [2,2,2,2].
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../util/rng.ts';
import type { Backbone, Module, NamedVariable } from './module.ts';
import { BatchNorm, Conv2d, convBatchNorm } from './layers.ts';
import { globalAvgPool } from './ops.ts';

export interface BackboneConfig {
  arch: 'resnet' | 'resnet18';
  widths: number[];
  blocks: number[];
  inChannels: number;
}

/** The standard ResNet-18 stages, what arch 'resnet18' stands for. */
const RESNET18_STAGES = { widths: [64, 128, 256, 512], blocks: [2, 2, 2, 2] };

/** `cfg` with arch 'resnet18' spelled out as its widths and blocks. */
export function resolveBackbone<T extends Pick<BackboneConfig, 'arch' | 'widths' | 'blocks'>>(cfg: T): T {
  return cfg.arch === 'resnet18' ? { ...cfg, ...RESNET18_STAGES } : cfg;
}

/** One basic block's place in the network: stride 2 opens every stage after the first. */
export interface BlockPlan { stage: number; index: number; inC: number; outC: number; stride: number }

export function blockPlan(widths: readonly number[], blocks: readonly number[]): BlockPlan[] {
  const plan: BlockPlan[] = [];
  let inC = widths[0];
  widths.forEach((outC, stage) => {
    for (let index = 0; index < blocks[stage]; index++) {
      plan.push({ stage, index, inC, outC, stride: stage > 0 && index === 0 ? 2 : 1 });
      inC = outC;
    }
  });
  return plan;
}

/** One convolution of the backbone (each followed by a batch norm of outC channels). */
export interface ConvLayer { inC: number; outC: number; kernel: number; stride: number; outSize: number }

/**
 * Every convolution of the backbone on size x size inputs, in the order it runs them:
 * the stem, then per block conv1, conv2 and the projection shortcut when there is one.
 * What the FLOP count of the bench and the wasm memory estimate are computed from.
 */
export function backboneConvs(cfg: Pick<BackboneConfig, 'arch' | 'widths' | 'blocks' | 'inChannels'>, size: number): ConvLayer[] {
  const { widths, blocks, inChannels } = resolveBackbone(cfg);
  const convs: ConvLayer[] = [{ inC: inChannels, outC: widths[0], kernel: 3, stride: 1, outSize: size }];
  let h = size;
  for (const b of blockPlan(widths, blocks)) {
    h = Math.ceil(h / b.stride);
    convs.push({ inC: b.inC, outC: b.outC, kernel: 3, stride: b.stride, outSize: h }, { inC: b.outC, outC: b.outC, kernel: 3, stride: 1, outSize: h });
    if (b.stride !== 1 || b.inC !== b.outC) convs.push({ inC: b.inC, outC: b.outC, kernel: 1, stride: b.stride, outSize: h });
  }
  return convs;
}

/** conv-bn-relu-conv-bn (+ projection shortcut when the shape changes), then relu. */
export class BasicBlock implements Module {
  readonly conv1: Conv2d; readonly bn1: BatchNorm;
  readonly conv2: Conv2d; readonly bn2: BatchNorm;
  readonly shortcut?: { conv: Conv2d; bn: BatchNorm };
  constructor(readonly name: string, inC: number, outC: number, readonly stride: number, rng: Rng) {
    this.conv1 = new Conv2d(`${name}/conv1`, inC, outC, 3, stride, rng);
    this.bn1 = new BatchNorm(`${name}/bn1`, outC);
    this.conv2 = new Conv2d(`${name}/conv2`, outC, outC, 3, 1, rng);
    this.bn2 = new BatchNorm(`${name}/bn2`, outC);
    if (stride !== 1 || inC !== outC) {
      this.shortcut = { conv: new Conv2d(`${name}/shortcut/conv`, inC, outC, 1, stride, rng), bn: new BatchNorm(`${name}/shortcut/bn`, outC) };
    }
  }
  apply(x: tf.Tensor, training: boolean): tf.Tensor {
    const h = convBatchNorm(this.conv1, this.bn1, x, training, { relu: true });
    const s = this.shortcut ? convBatchNorm(this.shortcut.conv, this.shortcut.bn, x, training) : x;
    // relu(bn2(conv2(h)) + shortcut): one fused op on the native backend.
    return convBatchNorm(this.conv2, this.bn2, h, training, { relu: true, residual: s });
  }
  private modules(): Module[] {
    const m: Module[] = [this.conv1, this.bn1, this.conv2, this.bn2];
    if (this.shortcut) m.push(this.shortcut.conv, this.shortcut.bn);
    return m;
  }
  params(): NamedVariable[] { return this.modules().flatMap((m) => m.params()); }
  buffers(): NamedVariable[] { return this.modules().flatMap((m) => m.buffers()); }
  batchNorms(): BatchNorm[] { return this.modules().filter((m): m is BatchNorm => m instanceof BatchNorm); }
}

export class ResNet implements Backbone {
  readonly stemConv: Conv2d;
  readonly stemBn: BatchNorm;
  readonly blocks: BasicBlock[] = [];
  readonly featureDim: number;
  constructor(readonly config: Readonly<BackboneConfig>, rng: Rng, prefix = 'backbone') {
    const { widths, blocks, inChannels } = config;
    if (widths.length === 0 || widths.length !== blocks.length) {
      throw new Error(`resnet: widths (${widths.length}) and blocks (${blocks.length}) must be non-empty and of equal length`);
    }
    this.stemConv = new Conv2d(`${prefix}/stem/conv`, inChannels, widths[0], 3, 1, rng);
    this.stemBn = new BatchNorm(`${prefix}/stem/bn`, widths[0]);
    const plan = blockPlan(widths, blocks);
    for (const b of plan) this.blocks.push(new BasicBlock(`${prefix}/layer${b.stage + 1}.${b.index}`, b.inC, b.outC, b.stride, rng));
    this.featureDim = plan.at(-1)?.outC ?? widths[0];
  }
  apply(x: tf.Tensor, training: boolean): tf.Tensor2D {
    let h = convBatchNorm(this.stemConv, this.stemBn, x, training, { relu: true });
    for (const b of this.blocks) h = b.apply(h, training);
    return globalAvgPool(h as tf.Tensor4D);
  }
  params(): NamedVariable[] {
    return [...this.stemConv.params(), ...this.stemBn.params(), ...this.blocks.flatMap((b) => b.params())];
  }
  buffers(): NamedVariable[] {
    return [...this.stemBn.buffers(), ...this.blocks.flatMap((b) => b.buffers())];
  }
  batchNorms(): BatchNorm[] { return [this.stemBn, ...this.blocks.flatMap((b) => b.batchNorms())]; }
}

export function buildBackbone(cfg: BackboneConfig, rng: Rng, prefix = 'backbone'): ResNet {
  return new ResNet(resolveBackbone(cfg), rng, prefix);
}
