// Every shipped recipe builds its method: the knobs agree with each other (MoCo's
// queue against the batch, BN splits, head widths, predictor) and every variable
// of the method has a unique name, so a user never meets a recipe we ship that
// fails at start-up.
import * as tf from '@tensorflow/tfjs';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildMethod } from '../src/methods/index.ts';
import { loadRecipe } from '../src/recipe/index.ts';

beforeAll(async () => { await tf.setBackend('cpu'); });

const RECIPES = readdirSync('recipes').filter((f) => f.endsWith('.yaml')).sort();

describe('shipped recipes', () => {
  it('include the self-supervised methods with and without negatives', () => {
    for (const m of ['simclr', 'mocov2', 'mocov3', 'byol', 'simsiam', 'barlowtwins', 'vicreg']) expect(RECIPES).toContain(`mnist-${m}.yaml`);
  });

  it.each(RECIPES)('%s builds its method, with unique variable names, and leaks nothing', async (file) => {
    const before = tf.memory().numTensors;
    const recipe = loadRecipe(join('recipes', file));
    const m = await buildMethod(recipe);
    expect(m.name).toBe(recipe.method.name);
    const names = [...m.trainable(), ...m.state()].map((v) => v.name);
    expect(new Set(names).size).toBe(names.length);
    expect(m.trainable().length).toBeGreaterThan(0);
    m.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
