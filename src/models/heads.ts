// Heads on top of the backbone. One base shape for all of them (as lightly does):
// Linear -> BN -> ReLU -> ... -> Linear. The SimCLR/MoCo v2 projection head is the
// 2-layer case, Barlow Twins' and VICReg's the 3-layer one; the predictors of MoCo v3,
// BYOL and SimSiam are the same shape on the online side.
import type { Rng } from '../util/rng.ts';
import { BatchNorm, Linear, Sequential } from './layers.ts';
import type { Module } from './module.ts';

export interface MlpHeadConfig {
  /** Widths from input to output, e.g. [512, 2048, 128]. */
  dims: number[];
  /** Batch norm after each hidden linear layer (SimCLR v2 / lightly default). */
  batchNorm: boolean;
}

export function buildMlpHead(name: string, cfg: MlpHeadConfig, rng: Rng): Module {
  const { dims } = cfg;
  if (dims.length < 2) throw new Error(`${name}: an MLP head needs at least input and output dims`);
  const layers: Module[] = [];
  const acts: ('relu' | null)[] = [];
  for (let i = 0; i + 1 < dims.length; i++) {
    const last = i + 2 === dims.length;
    // A linear layer followed by BN needs no bias: BN's beta takes its place.
    layers.push(new Linear(`${name}/fc${i + 1}`, dims[i], dims[i + 1], rng, last || !cfg.batchNorm));
    acts.push(null);
    if (!last) {
      if (cfg.batchNorm) { layers.push(new BatchNorm(`${name}/bn${i + 1}`, dims[i + 1])); acts.push(null); }
      acts[acts.length - 1] = 'relu';
    }
  }
  return new Sequential(layers, acts);
}

/** A projection head's widths: inDim, then `layers - 1` hidden layers of hiddenDim, then outDim. */
export function projectionHeadDims(inDim: number, hiddenDim: number, outDim: number, layers = 2): number[] {
  if (!(Number.isInteger(layers) && layers >= 1)) throw new Error(`projection head: ${layers} layers`);
  return [inDim, ...Array<number>(layers - 1).fill(hiddenDim), outDim];
}

export function buildProjectionHead(inDim: number, hiddenDim: number, outDim: number, rng: Rng, batchNorm = true, name = 'head', layers = 2): Module {
  return buildMlpHead(name, { dims: projectionHeadDims(inDim, hiddenDim, outDim, layers), batchNorm }, rng);
}
