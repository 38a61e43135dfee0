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
    let inC = widths[0];
    widths.forEach((w, stage) => {
      for (let b = 0; b < blocks[stage]; b++) {
        const stride = stage > 0 && b === 0 ? 2 : 1;
        this.blocks.push(new BasicBlock(`${prefix}/layer${stage + 1}.${b}`, inC, w, stride, rng));
        inC = w;
      }
    });
    this.featureDim = inC;
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
  const full: BackboneConfig = cfg.arch === 'resnet18'
    ? { arch: 'resnet18', widths: [64, 128, 256, 512], blocks: [2, 2, 2, 2], inChannels: cfg.inChannels }
    : cfg;
  return new ResNet(full, rng, prefix);
}
