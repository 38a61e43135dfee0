// A momentum encoder: MoCo's key encoder, BYOL's target network. A copy of the
// online backbone and projection head that never receives gradients and follows
// them by an exponential moving average after each optimizer step. Its variables
// are the online ones' names under a prefix ('key/', 'target/'), so a checkpoint
// holds both and a resumed run continues exactly.
import * as tf from '@tensorflow/tfjs';
import { copyWeights, disposeModule, type Backbone, type Module, type NamedVariable } from '../models/module.ts';
import { buildBackbone, type BackboneConfig } from '../models/resnet.ts';
import { momentumAt } from '../optim/schedule.ts';
import { Rng } from '../util/rng.ts';
import { emaUpdate, freeze, pairByName } from './ema.ts';

export class MomentumEncoder {
  readonly backbone: Backbone;
  readonly head: Module;

  /**
   * `buildHead(name, rng)` builds a head shaped as the online one under another name.
   * The copy's own random init is overwritten at once, so it is drawn from a stream of its
   * own (`prefix`), not from the run's: adding a momentum encoder changes no other draw.
   */
  constructor(private readonly online: { backbone: Backbone; head: Module }, readonly prefix: string,
              buildHead: (name: string, rng: Rng) => Module) {
    const scratch = new Rng(`momentum-encoder:${prefix}`);
    this.backbone = buildBackbone(online.backbone.config as unknown as BackboneConfig, scratch, `${prefix}backbone`);
    this.head = buildHead(`${prefix}head`, scratch);
    copyWeights(online.backbone, this.backbone);
    copyWeights(online.head, this.head);
    pairByName(this.params(), this.onlineParams(), prefix);
    freeze(this.backbone);
    freeze(this.head);
  }

  /** Its parameters, in the online encoder's order (backbone, then head). */
  params(): NamedVariable[] { return [...this.backbone.params(), ...this.head.params()]; }
  /** Its batch-norm statistics: its own, updated by its own forward passes, never averaged. */
  buffers(): NamedVariable[] { return [...this.backbone.buffers(), ...this.head.buffers()]; }
  private onlineParams(): NamedVariable[] { return [...this.online.backbone.params(), ...this.online.head.params()]; }

  /** Head output of x, in training mode (batch statistics) as the official MoCo and BYOL code encode keys / targets. */
  encode(x: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => this.head.apply(this.backbone.apply(x, true), true) as tf.Tensor2D);
  }

  /** this <- momentum * this + (1 - momentum) * online, parameters only. */
  follow(momentum: number): void { emaUpdate(this.params(), this.onlineParams(), momentum); }

  dispose(): void {
    disposeModule(this.backbone);
    disposeModule(this.head);
  }
}

/**
 * The momentum of the update that follows step `step` (i.e. before step + 1's keys or
 * targets): fixed, or (schedule) raised from `momentum` to 1 on a cosine over the run,
 * as MoCo v3 and BYOL do.
 */
export function momentumAfterStep(opts: { momentum: number; momentumSchedule: boolean }, step: number, totalSteps: number): number {
  return opts.momentumSchedule ? momentumAt(step + 1, totalSteps, opts.momentum, 1) : opts.momentum;
}
