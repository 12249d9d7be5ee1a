import { readFileSync, existsSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { DATA_FIELDS, RecipeSchema, type Recipe } from './schema.ts';
import { optionFlag, readerForSource, readerOptions } from '../data/readers/index.ts';
import { UserError } from '../util/errors.ts';
import { objectives } from '../objectives/index.ts';

/**
 * Applies a dotted override (`training.epochs=5`, `sampler.groupBy=[experiment]`) to a plain
 * object in place. The value is parsed as YAML, so numbers, booleans and lists work.
 */
export function applyOverride(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  if (keys.some((k) => k === '')) throw new UserError(`Override "${path}" has an empty field name.`);
  let node: Record<string, unknown> = target;
  for (const k of keys.slice(0, -1)) {
    const next = node[k];
    if (next === undefined || next === null) node[k] = {};
    else if (typeof next !== 'object' || Array.isArray(next)) {
      throw new UserError(`Override "${path}": "${k}" is not a section of the recipe.`);
    }
    node = node[k] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]] = value;
}

/** Parses `--set a.b=c` strings into [path, value] pairs (value parsed as YAML). */
export function parseSetFlags(sets: string[]): [string, unknown][] {
  return sets.map((s) => {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new UserError(`--set "${s}" must look like field.path=value (e.g. training.epochs=5).`);
    try {
      return [s.slice(0, eq), parseYaml(s.slice(eq + 1)) as unknown];
    } catch (e) {
      throw new UserError(`--set "${s}": the value is not valid YAML (${(e as Error).message.split('\n')[0]}); quote strings that hold ':' or '#', e.g. --set 'data.path="a: b"'.`);
    }
  });
}

/** Turns zod issues into one message per field: `training.epochs: expected number, received string`. */
export function formatIssues(source: string, error: z.ZodError): string {
  const lines = error.issues.map((i) => {
    const field = i.path.length ? i.path.join('.') : '(top level)';
    return `  ${field}: ${i.message}`;
  });
  return `Invalid recipe ${source}:\n${lines.join('\n')}`;
}

/** Validates a plain object as a recipe; errors name each bad field and the allowed values. */
export function validateRecipe(raw: unknown, source = '(inline)'): Recipe {
  const r = RecipeSchema.safeParse(raw);
  if (!r.success) throw new UserError(formatIssues(source, r.error));
  checkPlugins(r.data, source);
  return r.data;
}

/**
 * The options that only the plug-in knows (its names are checked by the schema), checked when the recipe is read, so a
 * typo fails before any data work or output.
 */
function checkPlugins(recipe: Recipe, source: string): void {
  const field = (name: string, e: unknown) => new UserError(`Invalid recipe ${source}:\n  ${name}: ${(e as Error).message}`);
  checkReaderOptions(recipe.data, field);
  let views: number;
  try {
    views = objectives.get(recipe.objective.name)(recipe.objective.options).views;
  } catch (e) {
    throw field('objective.options', e);
  }
  const bs = recipe.sampler.batchSize;
  if (typeof bs === 'number' && bs < 2) {
    throw field('sampler.batchSize', new Error(`${bs} image per batch: BatchNorm needs at least 2 images to compute batch statistics${views > 1 ? `, and ${recipe.objective.name} needs other images as negatives` : ''}. Use 2 or more (64 is the default).`));
  }
}

/**
 * The `data` fields that are not the section's own are options of the chosen reader: each is
 * checked against the reader's declaration (the registry is the one list of readers and their
 * options), so a misspelt or misplaced field fails when the recipe is read.
 */
function checkReaderOptions(d: Recipe['data'], field: (name: string, e: unknown) => UserError): void {
  const reader = d.source === 'synthetic' ? undefined : readerForSource(d.source);
  const declared = readerOptions();
  for (const [key, value] of Object.entries(d)) {
    if (DATA_FIELDS.includes(key) || value === undefined) continue;
    const own = reader?.options[key];
    if (!own) {
      const other = declared.get(key);
      const mine = reader ? Object.keys(reader.options) : [];
      throw field(
        `data.${key}`,
        new Error(
          other
            ? `an option of ${other.readers.join(', ')}, not of source ${d.source}${mine.length ? ` (its options: ${mine.join(', ')})` : ''}`
            : `unknown field${mine.length ? `; source ${d.source} takes ${mine.join(', ')}` : ''} (the data section's own fields: ${DATA_FIELDS.join(', ')})`,
        ),
      );
    }
    const r = own.schema.safeParse(value);
    if (!r.success) throw field(`data.${key}`, new Error(`${r.error.issues.map((i) => `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`).join('; ')} (flag --${optionFlag(key, own)})`));
  }
}

/**
 * Reads a YAML recipe, applies `--set` overrides, and validates it.
 * @param path recipe file
 * @param sets overrides as `field.path=value`
 */
export function loadRecipe(path: string, sets: string[] = []): Recipe {
  if (!existsSync(path)) throw new UserError(`Recipe file not found: ${path}. The recipes shipped are in recipes/.`);
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, 'utf8'));
  } catch (e) {
    if (e instanceof YAMLParseError) throw new UserError(`Recipe ${path} is not valid YAML: ${e.message}`);
    throw e;
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new UserError(`Recipe ${path} must be a YAML mapping (name:, data:, sampler:, ...).`);
  }
  for (const [p, v] of parseSetFlags(sets)) applyOverride(raw as Record<string, unknown>, p, v);
  const recipe = validateRecipe(raw, path);
  // Every variant is validated now too: a bad override fails before the first stage.
  for (const name of Object.keys(recipe.variants)) resolveVariant(recipe, name);
  return recipe;
}

/** The recipe of one named variant: the base recipe with the variant's overrides applied. */
export function resolveVariant(recipe: Recipe, variant: string): Recipe {
  const overrides = recipe.variants[variant];
  if (!overrides) throw new UserError(`Recipe "${recipe.name}" has no variant "${variant}". Variants: ${Object.keys(recipe.variants).join(', ') || '(none)'}.`);
  const raw = structuredClone({ ...recipe, variants: {} }) as Record<string, unknown>;
  for (const [p, v] of Object.entries(overrides)) applyOverride(raw, p, v);
  return validateRecipe(raw, `${recipe.name} (variant ${variant})`);
}
