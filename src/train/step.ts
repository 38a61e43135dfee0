// One optimisation step: method loss under the gradient tape, optimizer update,
// method bookkeeping. Everything it creates is disposed before it returns, so the
// tensor count is flat across steps.
import * as tf from '@tensorflow/tfjs';
import type { Method, StepContext } from '../methods/method.ts';
import type { NamedVariable } from '../models/module.ts';
import type { Optimizer } from '../optim/index.ts';

export interface StepResult { loss: number; extra: Record<string, number> }

export class StepRunner {
  private readonly vars: tf.Variable[];
  /** tfjs's internal variable name -> our stable name (the optimizer's key). */
  private readonly names = new Map<string, string>();
  constructor(private readonly method: Method, private readonly optimizer: Optimizer, trainable: NamedVariable[]) {
    this.vars = trainable.map((p) => p.variable);
    for (const p of trainable) this.names.set(p.variable.name, p.name);
  }

  /**
   * Async because the loss is read with data(), not dataSync(): a GPU backend (webgpu
   * in Node) can only read back asynchronously, and on host backends the two cost the same.
   */
  async run(view1: tf.Tensor4D, view2: tf.Tensor4D, ctx: StepContext, lr: number): Promise<StepResult> {
    const pre = this.method.beforeStep?.(view1, view2, ctx) ?? [];
    try {
      const { value, grads } = tf.variableGrads(() => this.method.loss(view1, view2, ctx, pre), this.vars);
      const parts = this.method.takeLossParts?.() ?? {};
      let loss: number;
      const partValues: Record<string, number> = {};
      try {
        loss = (await value.data())[0];
        for (const [name, t] of Object.entries(parts)) partValues[name] = (await t.data())[0];
      } catch (e) {
        tf.dispose(Object.values(grads));
        throw e;
      } finally {
        value.dispose();
        tf.dispose(Object.values(parts));
      }
      const byName = new Map<string, tf.Tensor>();
      for (const [k, g] of Object.entries(grads)) byName.set(this.names.get(k) ?? k, g);
      try {
        // A non-finite loss means the update would poison the weights: skip it; the trainer stops.
        if (Number.isFinite(loss)) {
          this.optimizer.step(byName, lr);
          this.method.afterStep?.(ctx, pre);
        }
      } finally {
        for (const g of byName.values()) g.dispose();
      }
      return { loss, extra: { ...partValues, ...this.method.metrics?.(ctx) } };
    } finally {
      for (const t of pre) t.dispose();
    }
  }
}
