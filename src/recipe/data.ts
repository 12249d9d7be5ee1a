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
import { readDataset, readerForSource } from '../data/readers/index.ts';
import { resolveSynthConfig, type SynthConfig } from '../data/synth/config.ts';
import { generateSynthetic } from '../data/synth/generate.ts';
import { hashSeed } from '../data/seed.ts';
import { bytesPerSample } from '../data/types.ts';
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

/**
 * Reads the data set of the recipe (after {@link ensureRecipeData}); pixels stay on disk until a
 * split is loaded. With `data.crops` the rows are single cells (data/cells/crops.ts), in memory;
 * the per-site sample of cells is seeded by the data set alone, so every stage sees the same cells.
 */
export async function readRecipeData(d: Recipe['data'], path: string, opts: { log?: (line: string) => void; onDetected?: CellCropOptions['onDetected'] } = {}): Promise<Dataset> {
  const layout = recipeLayout(d);
  const sites = await readDataset(path, { ...recipeReadOptions(d), layout, skipBad: d.skipBad, load: false });
  if (!d.crops) return sites;
  const c = d.crops;
  const { data, sites: counts } = await cellCrops(sites, {
    size: c.size,
    maxPerSite: c.maxPerSite,
    channel: c.channel,
    nuclei: { sigma: c.sigma, minArea: c.minArea, maxArea: c.maxArea },
    onDetected: opts.onDetected,
  });
  const detected = counts.map((s) => s.detected).sort((a, b) => a - b);
  opts.log?.(`cells: ${data.size} crops of ${c.size}px from ${sites.size} sites (nuclei per site: min ${detected[0]}, median ${detected[detected.length >> 1]}, max ${detected.at(-1)}${c.maxPerSite ? `; at most ${c.maxPerSite} kept` : ''})`);
  return data;
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
