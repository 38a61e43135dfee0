// What retrieval and verification embed images with: the frozen backbone, or
// the backbone followed by the projection head a method trained on top of it
// (`eval.embedding: backbone | head`). Metric-learning methods are trained on
// the head's output, so that is where their similarity lives; self-supervised
// backbones are usually judged on the backbone's features (SimCLR's finding).
import type { LoadedCheckpoint } from '../train/checkpoint.ts';
import { restoreVariables } from '../train/checkpoint.ts';
import { buildProjectionHead } from '../models/heads.ts';
import { Sequential } from '../models/layers.ts';
import type { Backbone, Module, NamedVariable } from '../models/module.ts';
import { backboneFromRecipe } from '../methods/index.ts';
import { OutputNorm } from '../methods/moco-bn.ts';
import type { Recipe } from '../recipe/index.ts';
import { UserError } from '../util/errors.ts';
import { Rng } from '../util/rng.ts';
import type * as tf from '@tensorflow/tfjs';

export type EmbeddingSource = 'backbone' | 'head';

/** A Module whose output is the embedding; it keeps its parts for hashing and reporting. */
export interface Embedder extends Module {
  readonly backbone: Backbone;
  readonly head?: Module;
  readonly embedding: EmbeddingSource;
}

/**
 * Backbone then (optionally) head, always in eval mode whatever `training` says:
 * an embedder only ever serves evaluation, and batch statistics would make an
 * item's embedding depend on its batch. params()/buffers() list the backbone's
 * then the head's, so weightsHash of the embedder covers both.
 */
export function composeEmbedder(backbone: Backbone, head?: Module): Embedder {
  return {
    backbone,
    head,
    embedding: head ? 'head' : 'backbone',
    apply(x: tf.Tensor): tf.Tensor {
      const f = backbone.apply(x, false);
      if (!head) return f;
      const z = head.apply(f, false);
      f.dispose();
      return z;
    },
    params(): NamedVariable[] { return [...backbone.params(), ...(head?.params() ?? [])]; },
    buffers(): NamedVariable[] { return [...backbone.buffers(), ...(head?.buffers() ?? [])]; },
  };
}

const HEAD_PREFIX = 'head/';

/**
 * The checkpoint's backbone, and with `which: 'head'` its projection head, rebuilt from the recipe
 * (as SimCLR, MoCo and the metric-learning methods build it: variables 'head/...') and filled with
 * the saved weights and batch-norm statistics. MoCo's non-affine output batch norm ('head/out_bn')
 * is kept when the checkpoint has it. A checkpoint without head variables, or `model.head_out: 0`,
 * cannot embed with the head: a UserError naming eval.embedding.
 */
export function embedderFromCheckpoint(ck: LoadedCheckpoint, recipe: Recipe, which: EmbeddingSource): Embedder {
  if (which !== 'backbone' && which !== 'head') throw new UserError(`eval.embedding: '${String(which)}' is not valid; use backbone or head`);
  // The seed is irrelevant: every variable is overwritten by the checkpoint.
  const backbone = backboneFromRecipe(recipe, new Rng('embedder'));
  restoreVariables(ck, [...backbone.params(), ...backbone.buffers()]);
  if (which === 'backbone') return composeEmbedder(backbone);

  const names = ck.meta.tensors.map((t) => t.name);
  const headOut = (recipe.model as { head_out?: number }).head_out ?? 0;
  if (!(headOut > 0)) {
    throw new UserError(`eval.embedding: head, but the recipe has no projection head (model.head_out: ${headOut}); use eval.embedding: backbone`);
  }
  if (!names.some((n) => n.startsWith(HEAD_PREFIX))) {
    throw new UserError(`eval.embedding: head, but checkpoint ${ck.path} (method ${ck.meta.method}) holds no '${HEAD_PREFIX}...' variables; use eval.embedding: backbone`);
  }
  const mlp = buildProjectionHead(backbone.featureDim, recipe.model.head_hidden, headOut, new Rng('embedder-head'), recipe.model.head_batch_norm, 'head', recipe.model.head_layers ?? 2);
  const outNorm = `${HEAD_PREFIX}out_bn`;
  const head = names.some((n) => n.startsWith(`${outNorm}/`)) ? new Sequential([mlp, new OutputNorm(outNorm, headOut)]) : mlp;
  restoreVariables(ck, [...head.params(), ...head.buffers()]);
  return composeEmbedder(backbone, head);
}
