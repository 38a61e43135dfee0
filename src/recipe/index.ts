// Recipes: YAML files validated against the schema, with defaults filled in and
// `--set a.b=value` overrides applied (and type-checked) before validation.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import YAML from 'yaml';
import { UserError } from '../util/errors.ts';
import { recipeSchema, type Recipe } from './schema.ts';
import { applyMethodDefaults } from './sections/method.ts';

export type { Recipe } from './schema.ts';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };
interface SchemaNode { type?: string; properties?: Record<string, SchemaNode>; enum?: readonly unknown[]; items?: SchemaNode }

const ajv = new Ajv({ useDefaults: true, allErrors: false, strict: false, verbose: true });
const validate = ajv.compile(recipeSchema as object);

/** Loads, overrides, validates and fills defaults. `source` names the recipe in messages. */
export function loadRecipe(path: string | undefined, sets: string[] = [], defaults?: Obj): Recipe {
  let raw: Obj = structuredClone(defaults ?? {});
  let source = 'the default recipe';
  if (path) {
    if (!existsSync(path)) throw new UserError(`recipe file not found: ${path}`);
    source = path;
    let parsed: unknown;
    try {
      parsed = YAML.parse(readFileSync(path, 'utf8'));
    } catch (e) {
      throw new UserError(`${path}: not valid YAML (${(e as Error).message.split('\n')[0]})`);
    }
    if (parsed === null || parsed === undefined) parsed = {};
    if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new UserError(`${path}: a recipe must be a mapping of sections (data, model, method, optim, train, ...)`);
    raw = parsed as Obj;
    if (raw.name === undefined) raw.name = basename(path, extname(path));
  }
  for (const s of sets) applySet(raw, s);
  return validateRecipe(raw, source);
}

export function validateRecipe(raw: Obj, source: string): Recipe {
  const copy = structuredClone(raw);
  if (!validate(copy)) throw new UserError(`${source}: ${describeError(validate.errors![0])}`);
  const recipe = copy as unknown as Recipe;
  applyMethodDefaults(recipe.method);
  return recipe;
}

/** Applies one `a.b.c=value` override; the value is parsed as YAML so numbers, booleans and lists keep their types. */
export function applySet(raw: Obj, assignment: string): void {
  const eq = assignment.indexOf('=');
  if (eq <= 0) throw new UserError(`--set ${assignment}: expected key=value, e.g. --set train.epochs=5`);
  const key = assignment.slice(0, eq).trim();
  const text = assignment.slice(eq + 1);
  const path = key.split('.');
  // Walk the schema first so a typo names the valid keys instead of failing later.
  let node = recipeSchema as unknown as SchemaNode;
  for (let i = 0; i < path.length; i++) {
    const props = node.properties;
    if (!props) throw new UserError(`--set ${key}: '${path.slice(0, i).join('.')}' is a value, not a section`);
    if (!(path[i] in props)) {
      const where = i === 0 ? 'top level' : `'${path.slice(0, i).join('.')}'`;
      throw new UserError(`--set ${key}: unknown key '${path[i]}' at ${where}; valid keys: ${Object.keys(props).join(', ')}`);
    }
    node = props[path[i]];
  }
  let value: Json;
  try { value = YAML.parse(text) as Json; } catch { value = text; }
  if (node.type === 'string' || (node.enum && node.enum.every((v) => typeof v === 'string'))) value = text;
  let obj = raw;
  for (const p of path.slice(0, -1)) {
    const next = obj[p];
    if (next === undefined || next === null) obj[p] = {};
    else if (typeof next !== 'object' || Array.isArray(next)) throw new UserError(`--set ${key}: '${p}' is not a section in the recipe`);
    obj = obj[p] as Obj;
  }
  obj[path[path.length - 1]] = value;
}

function describeError(e: ErrorObject): string {
  const at = instancePathToKey(e.instancePath);
  const schemaNode = nodeAt(at);
  switch (e.keyword) {
    case 'additionalProperties': {
      const extra = (e.params as { additionalProperty: string }).additionalProperty;
      const valid = Object.keys(schemaNode?.properties ?? {});
      const full = at ? `${at}.${extra}` : extra;
      return `unknown key '${full}'; valid keys ${at ? `in '${at}'` : 'at the top level'}: ${valid.join(', ')}`;
    }
    case 'enum':
      return `key '${at}' = ${JSON.stringify(e.data)}: must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    default:
      return `key '${at || '(top)'}' = ${JSON.stringify(e.data)}: ${e.message}`;
  }
}

function instancePathToKey(p: string): string {
  return p.split('/').filter(Boolean).join('.');
}

function nodeAt(key: string): SchemaNode | undefined {
  let node: SchemaNode | undefined = recipeSchema as unknown as SchemaNode;
  for (const part of key.split('.').filter(Boolean)) {
    if (/^\d+$/.test(part)) node = node?.items;
    else node = node?.properties?.[part];
  }
  return node;
}

/** The resolved recipe as YAML (what the run folder keeps). */
export function recipeToYaml(r: Recipe): string {
  return `# resolved recipe (defaults filled in, --set applied)\n${YAML.stringify(r)}`;
}

export function saveRecipe(r: Recipe, path: string): void {
  writeFileSync(path, recipeToYaml(r));
}
