/**
 * The recipe's `data` stage: generate the synthetic preset once into a cache folder (reused while
 * its `synth.json` records the same parameters), or point at a real copy (RxRx1-WILDS, RxRx1,
 * CellProfiler LoadData), then read it with the data layer's readers.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Dataset } from '../data/image-dataset.ts';
import { cellCrops, type CellCropOptions } from '../data/cells/crops.ts';
import { describeLocations, readLocations } from '../data/cells/locations.ts';
import type { IlluminationOptions } from '../data/illumination/apply.ts';
import { readDataset, readerForSource } from '../data/readers/index.ts';
import { resolveSynthConfig, type SynthConfig } from '../data/synth/config.ts';
import { generateSynthetic } from '../data/synth/generate.ts';
import { hashSeed } from '../data/seed.ts';
import { bytesPerSample, NO_SPLIT } from '../data/types.ts';
import { UserError } from '../util/errors.ts';
import type { Recipe } from './schema.ts';

/** Default cache folder of generated synthetic data sets (one sub-folder per preset). */
export const SYNTHETIC_DATA_ROOT = join('data', 'synthetic');

/** Options of {@link ensureRecipeData}. */
export interface DataStageOptions {
  /** Cache folder of synthetic data sets (default `data/synthetic`). */
  dataRoot?: string;
  /** One-line notices (generation, reuse). */
  log?: (line: string) => void;
}

/** The reader layout of a real `data.source` (a reader's name or alias; undefined for synthetic). */
export function recipeLayout(d: Recipe['data']): string | undefined {
  return d.source === 'synthetic' ? undefined : readerForSource(d.source)?.name;
}

/**
 * The reader options of the recipe's `data` section: the options the source's reader declares
 * (data/readers/), then the illumination correction and the intensity scaling.
 */
export function recipeReadOptions(d: Recipe['data']): Record<string, unknown> {
  const reader = d.source === 'synthetic' ? undefined : readerForSource(d.source);
  const pick = Object.fromEntries(Object.keys(reader?.options ?? {}).map((k) => [k, d[k]]));
  return Object.fromEntries(Object.entries({ ...pick, intensity: d.intensity, illumination: d.illumination }).filter(([, v]) => v !== undefined));
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

/** Cache folder of a synthetic preset: `<root>/<preset>`, or `<root>/<preset>-<hash>` with parameter overrides. */
export function syntheticDataDir(preset: string, params: Record<string, unknown>, root = SYNTHETIC_DATA_ROOT): string {
  if (Object.keys(params).length === 0) return join(root, preset);
  const text = stableJson(params);
  const h = hashSeed(...Array.from(text, (c) => c.charCodeAt(0))).toString(16).padStart(8, '0');
  return join(root, `${preset}-${h}`);
}

/** Whether `dir` holds a synthetic data set generated with exactly `cfg`. */
function cached(dir: string, cfg: SynthConfig): boolean {
  const p = join(dir, 'synth.json');
  if (!existsSync(p)) return false;
  try {
    const rec = JSON.parse(readFileSync(p, 'utf8')) as { config?: unknown };
    return isDeepStrictEqual(rec.config, cfg);
  } catch {
    return false;
  }
}

/**
 * Makes sure the recipe's data exist and returns the folder (or CSV) to read: for `synthetic`, the
 * cache folder (generated, atomically, when missing or generated with other parameters); for real
 * data, `data.path` (or `data.csv`), checked to exist.
 */
export async function ensureRecipeData(d: Recipe['data'], opts: DataStageOptions = {}): Promise<string> {
  if (d.source === 'synthetic') {
    const cfg = resolveSynthConfig(d.preset, d.params as Partial<Record<keyof SynthConfig, unknown>>);
    const dir = d.path ?? syntheticDataDir(d.preset, d.params, opts.dataRoot);
    if (cached(dir, cfg)) {
      opts.log?.(`data: synthetic preset "${d.preset}" cached in ${dir}`);
      return dir;
    }
    opts.log?.(`data: generating synthetic preset "${d.preset}" into ${dir} ...`);
    await generateSynthetic(cfg, dir, { preset: d.preset });
    return dir;
  }
  checkRecipeDataExists(d);
  return (d.csv ?? d.path)!;
}

/**
 * Checks, before any output is written, that the recipe's real data exist (the data stage itself
 * generates synthetic data, so there is nothing to check for those).
 */
export function checkRecipeDataExists(d: Recipe['data']): void {
  if (d.source === 'synthetic') return;
  const path = d.csv ?? d.path;
  if (!path) throw new UserError(`data.path: source "${d.source}" reads a copy on disk; set data.path to its folder or file (data.csv: a LoadData CSV).`);
  if (!existsSync(path)) throw new UserError(`data.path: ${resolve(path)} does not exist. Download the data set there or fix data.path (e.g. --set data.path=/data/rxrx1_v1.0).`);
}

/** Options of {@link readRecipeData}. */
export interface RecipeDataOptions {
  log?: (line: string) => void;
  onDetected?: CellCropOptions['onDetected'];
  /** Where `data.illumination: compute` writes its functions (the run directory's `illumination/`). */
  illuminationDir?: string;
}

/** The illumination options of the recipe's `data` section, with compute's folder. */
function illuminationOf(d: Recipe['data'], dir: string | undefined, log?: (line: string) => void): IlluminationOptions | undefined {
  if (d.illumination === undefined) return undefined;
  const o = typeof d.illumination === 'string' ? { mode: d.illumination } : d.illumination;
  return { ...o, ...(o.mode === 'compute' ? { dir } : {}), log };
}

/**
 * The sites of the recipe's data set (after {@link ensureRecipeData}), pixels on disk until a
 * split is loaded, illumination-corrected and intensity-scaled as `data` says.
 */
export async function readRecipeSites(d: Recipe['data'], path: string, opts: RecipeDataOptions = {}): Promise<Dataset> {
  return readDataset(path, { ...recipeReadOptions(d), illumination: illuminationOf(d, opts.illuminationDir, opts.log), layout: recipeLayout(d), skipBad: d.skipBad, load: false });
}

/**
 * The recipe's single cells of `sites` (data/cells/crops.ts), in memory: around detected nuclei,
 * or at the centres `data.crops.locations` gives. The per-site sample of cells is seeded by the
 * data set alone, so every stage sees the same cells.
 */
export async function recipeCells(d: Recipe['data'], sites: Dataset, opts: RecipeDataOptions = {}): Promise<Dataset> {
  const c = d.crops!;
  const locations = c.locations ? await readLocations(c.locations, { images: c.locationsImages, experimentColumns: sites.fields?.experiment ? sites.fields.experiment.split('/') : undefined }) : undefined;
  if (!c.locations && c.locationsImages) throw new UserError('data.crops.locationsImages is the per-image table of data.crops.locations; set data.crops.locations too.');
  const r = await cellCrops(sites, {
    size: c.size,
    maxPerSite: c.maxPerSite,
    channel: c.channel,
    nuclei: { sigma: c.sigma, minArea: c.minArea, maxArea: c.maxArea },
    locations,
    onDetected: opts.onDetected,
  });
  if (r.notice) opts.log?.(r.notice);
  const found = r.sites.map((s) => s.detected).sort((a, b) => a - b);
  const what = locations ? `centres given by ${describeLocations(locations)}` : 'nuclei';
  opts.log?.(`cells: ${r.data.size} crops of ${c.size}px from ${sites.size} sites (${what} per site: min ${found[0]}, median ${found[found.length >> 1]}, max ${found.at(-1)}${c.maxPerSite ? `; at most ${c.maxPerSite} kept` : ''})`);
  return r.data;
}

/**
 * Reads the data set of the recipe ({@link readRecipeSites}); with `data.crops` the rows are
 * single cells ({@link recipeCells}).
 */
export async function readRecipeData(d: Recipe['data'], path: string, opts: RecipeDataOptions = {}): Promise<Dataset> {
  const sites = await readRecipeSites(d, path, opts);
  return d.crops ? recipeCells(d, sites, opts) : sites;
}

/**
 * Every split the recipe (and each variant) names exists in the data set at `path`, read for its
 * metadata only: checked before any data work. `all` selects every row, split column or not.
 */
export async function checkRecipeSplits(recipes: readonly Recipe[], path: string): Promise<void> {
  const d = recipes[0].data;
  const ds = await readDataset(path, { ...recipeReadOptions(d), illumination: 'none', intensity: undefined, layout: recipeLayout(d), skipBad: d.skipBad, metadataOnly: true });
  const known = new Set(ds.rows.map((r) => r.split));
  if (known.size === 1 && known.has(NO_SPLIT)) return;
  for (const r of recipes) {
    const fields: [string, string[]][] = [['data.trainSplits', r.data.trainSplits], ['data.evalSplits', r.data.evalSplits], ['evaluation.probeTrainSplits', r.evaluation.metrics.includes('linear-probe') ? r.evaluation.probeTrainSplits : []]];
    for (const [field, names] of fields) {
      for (const n of names) {
        if (n === NO_SPLIT || known.has(n)) continue;
        throw new UserError(`${field}: split "${n}" has no rows in ${path}. Known splits: ${[...known].sort().join(', ')}; "${NO_SPLIT}" selects every row.`);
      }
    }
  }
}

/** Decoded-pixel budget under which a split is loaded into memory (else decoded batch by batch). */
export const IN_MEMORY_LIMIT_BYTES = 4 * 2 ** 30;

/**
 * `ds` with its pixels in memory when they fit in `opts.limitBytes` (default 4 GiB); a larger split
 * (the real RxRx1-WILDS) stays on disk and the pipeline and embedder decode it on demand.
 */
export async function loadIfSmall(ds: Dataset, opts: { skipBad?: boolean; limitBytes?: number } = {}): Promise<Dataset> {
  const bytes = ds.size * ds.height * ds.width * ds.images.channels * bytesPerSample(ds.dtype);
  // skipBad: a corrupt image is dropped (and counted in `skipped`) when decoded, not only a missing one.
  return bytes <= (opts.limitBytes ?? IN_MEMORY_LIMIT_BYTES) ? ds.load({ skipBad: opts.skipBad }) : ds;
}
