// How a recipe's images become backbone input at evaluation time, as the plain
// numbers an index manifest, an exported model.json and the web page carry.
import type { Recipe } from '../recipe/index.ts';
import type { Preprocessing } from '../search/manifest.ts';
import { buildAugmenter } from '../train/augmenter.ts';

/** Size, channels and per-channel mean/std of the recipe's eval transform (cover + centre crop, then (x/255 - mean) / std). */
export function recipePreprocessing(recipe: Recipe): Preprocessing {
  const channels = recipe.data.channels;
  const { augmenter } = buildAugmenter(recipe, channels);
  return { size: recipe.data.image_size, channels, mean: [...augmenter.mean], std: [...augmenter.std], resize: 'cover-centre-crop' };
}
