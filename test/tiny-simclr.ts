// The small seeded SimCLR problem the backend tests train on (native vs cpu,
// webgpu vs cpu): a 2-stage ResNet with a BN head and two fixed 6-image view batches.
import * as tf from '@tensorflow/tfjs';
import { SimCLR } from '../src/methods/simclr.ts';
import { buildBackbone } from '../src/models/resnet.ts';
import { Rng } from '../src/util/rng.ts';

export interface TinyOptions { widths: number[]; blocks: number[]; size: number }

export function tinySimclr(opts: TinyOptions = { widths: [8, 16], blocks: [1, 1], size: 9 }): { method: SimCLR; v1: tf.Tensor4D; v2: tf.Tensor4D } {
  const rng = new Rng(42);
  const backbone = buildBackbone({ arch: 'resnet', widths: opts.widths, blocks: opts.blocks, inChannels: 3 }, rng.fork('b'));
  const method = new SimCLR(backbone, { temperature: 0.5, headHidden: 16, headOut: 8, headBatchNorm: true }, rng.fork('h'));
  const v1 = tf.randomNormal([6, opts.size, opts.size, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
  const v2 = tf.randomNormal([6, opts.size, opts.size, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
  return { method, v1, v2 };
}
