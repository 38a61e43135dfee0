// Which parameters get weight decay (and LARS adaptation). SimCLR's LARS and most
// SSL recipes leave biases and batch-norm scale/shift alone: decaying them only
// fights normalisation and costs accuracy.
import type { NamedVariable } from '../models/module.ts';

/** True when `p` is a bias or batch-norm parameter and the recipe asked to exclude those. */
export function isExcluded(p: NamedVariable, excludeBnBias: boolean): boolean {
  return excludeBnBias && p.kind !== 'weight';
}

/** Throws on gradient keys that name no parameter: that is a trainer bug, not something to skip. */
export function checkGradKeys(grads: Map<string, unknown>, params: ReadonlyMap<string, unknown>): void {
  for (const k of grads.keys()) {
    if (!params.has(k)) throw new Error(`optimizer got a gradient for unknown parameter '${k}'`);
  }
}
