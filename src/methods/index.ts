// Builds the method a recipe names, with its backbone (random, or from model.init).
import type { Recipe } from '../recipe/index.ts';
import { isSupervised } from '../recipe/sections/method.ts';
import { buildBackbone } from '../models/resnet.ts';
import { initBackbone } from '../models/init.ts';
import type { Backbone } from '../models/module.ts';
import { Rng } from '../util/rng.ts';
import { UserError } from '../util/errors.ts';
import type { Method } from './method.ts';
import { SimCLR } from './simclr.ts';

export type { Method, StepContext } from './method.ts';

/** The backbone a recipe describes, initialised from the run's seed. */
export function backboneFromRecipe(r: Recipe, rng: Rng): Backbone {
  return buildBackbone({ arch: r.model.backbone, widths: r.model.widths, blocks: r.model.blocks, inChannels: r.data.channels }, rng);
}

export async function buildMethod(r: Recipe): Promise<Method> {
  // Initialisation has its own stream so that it does not depend on anything else drawn.
  const rng = new Rng(`init:${r.train.seed}`);
  const backbone = backboneFromRecipe(r, rng);
  if (r.model.init) await initBackbone(backbone, r.model.init);
  const name = r.method.name;
  if (isSupervised(name)) {
    const { buildSupervised } = await import('./supervised.ts');
    return buildSupervised(r, name, backbone, rng);
  }
  if (r.model.head_out === 0) {
    throw new UserError(`model.head_out: 0 (no head) is for the metric-learning methods; ${name} trains through the head's output, so give it a width (e.g. 64)`);
  }
  switch (name) {
    case 'simclr':
      return new SimCLR(backbone, {
        temperature: r.method.temperature, headHidden: r.model.head_hidden, headOut: r.model.head_out,
        headBatchNorm: r.model.head_batch_norm, headLayers: r.model.head_layers,
      }, rng);
    case 'mocov2':
    case 'mocov3': {
      let mod: { buildMoco?: (r: Recipe, backbone: Backbone, rng: Rng) => Method };
      try {
        mod = await import('./moco.ts');
      } catch {
        throw new UserError(`method.name: '${name}' is not available in this build`);
      }
      if (!mod.buildMoco) throw new UserError(`method.name: '${name}' is not available in this build`);
      return mod.buildMoco(r, backbone, rng);
    }
    case 'byol':
    case 'simsiam':
    case 'barlowtwins':
    case 'vicreg': {
      const { buildNonContrastive } = await import('./noncontrastive.ts');
      return buildNonContrastive(r, name, backbone, rng);
    }
  }
}
