/**
 * `ben embed` as a library call: load a saved model and a data set, embed plate by plate in a
 * BEN normalization mode, write the per-image Parquet file and its well-level aggregate.
 */
import { readDataset } from '../data/readers/index.ts';
import type { Dataset } from '../data/image-dataset.ts';
import type { NormalizationMode } from '../models/ben-batchnorm.ts';
import { UserError } from '../util/errors.ts';
import type { AggregateMethod } from '../profiles/aggregate.ts';
import type { EmbedStats, PreprocessName } from './embedder.ts';
import { embedAndWrite, type EmbedAndWriteResult } from './embed-and-write.ts';
import { matchModelChannels } from './model-channels.ts';
import { checkProfileOutputs, wellPathFor, type ExportSummary } from './export.ts';
import type { ResizeMode } from './input.ts';
import { loadEmbeddingModel } from './saved-model.ts';
import { cellCrops, type CellCropOptions } from '../data/cells/crops.ts';
import { readLocations } from '../data/cells/locations.ts';
import { cellPathFor } from './cells.ts';
import type { ProfileParquetSummary } from '../tables/parquet.ts';
import { plateKey } from '../data/types.ts';
import { selectPlates, type ShardSpec } from './shard.ts';
import { checkDatasetFlags, checkDatasetOutput, datasetDir, isDatasetPath, openDataset, siblingDataset, writeShardLog } from './dataset-output.ts';

/** Options of {@link embedToParquet}. */
export interface EmbedToParquetOptions {
  /** Saved-model directory (`model.json` + `weights.bin`, models/io.ts). */
  modelDir: string;
  /** Data set folder or LoadData CSV. */
  dataPath: string;
  /**
   * Output Parquet file (one row per image), or a folder (any path not ending in `.parquet`, e.g.
   * `emb/`): a Hive-partitioned dataset `<out>/plate=<key>/part-<shard>.parquet`, its well level in
   * `<out>.wells/` (see embedding/dataset-output.ts).
   */
  out: string;
  /** Only these plates (`Metadata_PlateKey`: experiment/plate). */
  plates?: string[];
  /** This shard's share of the (selected) plates, whole plates balanced by images; needs a dataset `out`. */
  shard?: ShardSpec;
  /** BN statistics at inference. */
  normalization: NormalizationMode;
  /** Data set layout (default: detected). */
  layout?: string;
  /** Only these splits (default: all images). */
  splits?: string[];
  /** Images per forward pass (default 64). */
  batchSize?: number;
  /** Image preprocessing (default: the model metadata's `preprocess`, else `standardize`). */
  preprocess?: PreprocessName;
  /**
   * How images of another size than the model input are fitted to it (embedding/input.ts;
   * default: the model metadata's `resizeMode`, else `resize`).
   */
  resizeMode?: ResizeMode;
  /** Well-level file: aggregation (default mean) or `none`. */
  aggregate?: AggregateMethod | 'none';
  /** Well-level file path (default `<out>.wells.parquet`; for a dataset the folder `<out>.wells`). */
  wellOut?: string;
  /** Skip unreadable images (counted) instead of failing. */
  skipBad?: boolean;
  /** Reader options: channels, label / experiment / control columns, image-folder pattern, intensity (cli/reader-options.ts). */
  read?: Record<string, unknown>;
  /**
   * Embed single cells (data/cells/crops.ts) instead of sites: `out` then holds the site profiles
   * (mean of the L2-normalised cell embeddings, with `Metadata_Count`), `<out>.cells.parquet` the
   * cells and the well file the wells pooled the same way. The crop size defaults to the one the
   * model was trained on (its metadata's `crops.size`), else 48.
   */
  cells?: Omit<CellCropOptions, 'onSite' | 'size' | 'locations'> & { size?: number; locations?: string; locationsImages?: string };
  /** Progress of the embedding pass: `start(total images)`, `tick(images)`, `stop()`. */
  progress?: { start(total: number): void; tick(n: number): void; stop(): void };
  /** Notices (e.g. "reading the data set"), one line each. */
  log?: (line: string) => void;
}

/** What {@link embedToParquet} did, with the rates to compare (images/s embedding vs rows/s writing). */
export interface EmbedToParquetSummary {
  files: ExportSummary & { cells?: ProfileParquetSummary };
  stats: EmbedStats;
  /** The plates embedded (all, or the `--plates` / `--shard` selection), sorted. */
  plateKeys: string[];
  /** The shard, when sharded. */
  shard?: ShardSpec;
  skipped: number;
  writeSeconds: number;
  /** Images per second through preprocessing + forward passes (incl. the statistics pass). */
  embedImagesPerSec: number;
  /** Rows per second writing both Parquet files. */
  writeRowsPerSec: number;
}

/**
 * Loads the model and the data set, embeds every image (see {@link embedDataset}) and writes
 * `out` plus the well-level file (see {@link exportProfiles}). The files' key-value metadata
 * record the model directory, its saved metadata, the data set, the mode, the preprocessing,
 * the resize mode and the model input size.
 */
export async function embedToParquet(opts: EmbedToParquetOptions): Promise<EmbedToParquetSummary> {
  const dataset = isDatasetPath(opts.out);
  if (opts.shard && !dataset) throw new UserError(`--shard ${opts.shard.index}/${opts.shard.count} writes a partitioned dataset: give --out a folder (e.g. --out ${opts.out.replace(/\.parquet$/i, '')}/), not the file ${opts.out}.`);
  const shard = opts.shard ?? { index: 0, count: 1 };
  const dir = datasetDir(opts.out);
  const wellDir = opts.wellOut ? datasetDir(opts.wellOut) : siblingDataset(dir, 'wells');
  const cellDir = siblingDataset(dir, 'cells');
  const inputs = [opts.dataPath, opts.modelDir];
  // Refused outputs fail before any work: never a user's file, never an input.
  if (dataset) {
    checkDatasetFlags(opts);
    for (const d of opts.cells ? [dir, cellDir, wellDir] : opts.aggregate === 'none' ? [dir] : [dir, wellDir]) checkDatasetOutput(d, inputs, d === wellDir && opts.wellOut ? '--well-out' : '--out');
  } else {
    const outs = opts.cells ? [opts.out, cellPathFor(opts.out), opts.wellOut ?? wellPathFor(opts.out)] : opts.aggregate === 'none' ? [opts.out] : [opts.out, opts.wellOut ?? wellPathFor(opts.out)];
    checkProfileOutputs(outs, inputs);
  }
  const tag = opts.shard ? `[shard ${shard.index}/${shard.count}] ` : '';
  const log = opts.log ? (line: string) => opts.log!(tag + line) : undefined;
  // The model first: a bad model directory fails before the data set is read.
  const em = await loadEmbeddingModel(opts.modelDir, { preprocess: opts.preprocess, resizeMode: opts.resizeMode });
  log?.(`reading ${opts.dataPath}...`);
  let data: Dataset;
  let result: EmbedAndWriteResult;
  let plateKeys: string[] = [];
  const started = new Date().toISOString();
  const t00 = performance.now();
  try {
    data = await readDataset(opts.dataPath, { ...withIlluminationDir(opts.read, `${dir.replace(/\.parquet$/i, '')}.illumination`, log, opts.shard !== undefined), layout: opts.layout, skipBad: opts.skipBad });
    // Channels by name first: a channel the model needs and the data set lacks fails before any pixel work.
    data = matchModelChannels(em.metadata.channels, data, opts.modelDir, log);
    if (opts.splits?.length) data = data.split(opts.splits);
    // Plates are chosen on the sites, identically on every node. A seeded cell sample is drawn
    // before the selection (its seeds follow the site's row), as a single run draws it.
    const loads = [...data.groups(['experiment', 'plate']).values()].map((rows) => ({ key: plateKey(data.rows[rows[0]]), images: rows.length }));
    const keep = new Set(selectPlates(loads, { plates: opts.plates, shard: opts.shard }));
    plateKeys = [...keep].sort();
    const select = (d: Dataset) => (opts.plates || opts.shard ? d.filter((r) => keep.has(plateKey(r))) : d);
    const sampleCells = opts.cells?.maxPerSite !== undefined;
    if (!sampleCells) data = select(data);
    if (opts.plates || opts.shard) log?.(`${plateKeys.length} plates selected${opts.shard ? ` for shard ${shard.index} of ${shard.count}` : ''}: ${plateKeys.slice(0, 8).join(', ')}${plateKeys.length > 8 ? ', ...' : ''}`);
    if (dataset) {
      // The folder appears with its marker before its shard log, so a shard starting at the same
      // time never finds it unmarked.
      await openDataset(dir, opts.cells ? 'sites' : 'images');
      await writeShardLog(dir, shard, { status: 'running', started, plates: plateKeys });
    }
    const trainedCrops = em.metadata.crops as { size?: unknown } | undefined;
    if (trainedCrops && !opts.cells) log?.('notice: the model was trained on single-cell crops; pass --cells to embed cells (site profiles pooled from them).');
    if (opts.cells) {
      const sites = data.size;
      const size = opts.cells.size ?? (typeof trainedCrops?.size === 'number' ? trainedCrops.size : 48);
      const { locations: at, locationsImages, ...cellOpts } = opts.cells;
      const locations = at ? await readLocations(at, { images: locationsImages, experimentColumns: data.fields?.experiment ? data.fields.experiment.split('/') : undefined }) : undefined;
      const r = await cellCrops(data, { ...cellOpts, size, locations });
      if (r.notice) log?.(r.notice);
      data = r.data;
      if (sampleCells) data = select(data);
      log?.(`${data.size} cells from ${sites} sites (nuclei per site: ${summarizeCounts(r.sites.map((c) => c.detected))})`);
    }
    const info = data.summary();
    log?.(`${info.images} images, ${info.plates} plates, ${info.height}x${info.width}x${info.channels.length} ${info.dtype}${info.inMemory ? '' : ' (decoded on the fly)'}`);
    if (info.height !== em.inputSize || info.width !== em.inputSize) log?.(`model input ${em.inputSize}x${em.inputSize}: --resize-mode ${em.resizeMode}`);
    opts.progress?.start(data.size);
    result = await embedAndWrite({
      model: em,
      modelDir: opts.modelDir,
      data,
      dataPath: opts.dataPath,
      splits: opts.splits,
      normalization: opts.normalization,
      batchSize: opts.batchSize,
      out: dataset ? { dir, shard, wellDir, cellDir } : opts.out,
      aggregate: opts.aggregate ?? 'mean',
      wellOut: opts.wellOut,
      cells: !!opts.cells,
      inputs,
      provenance: opts.shard ? { shard: `${shard.index}/${shard.count}` } : undefined,
      onImages: opts.progress ? (n) => opts.progress!.tick(n) : undefined,
      onEmbedded: () => opts.progress?.stop(),
      log,
    });
  } catch (e) {
    if (dataset) await writeShardLog(dir, shard, { status: 'failed', started, finished: new Date().toISOString(), plates: plateKeys, error: (e as Error).message ?? String(e) }).catch(() => {});
    throw e;
  } finally {
    opts.progress?.stop();
    em.dispose();
  }
  const { files, stats, writeSeconds } = result;
  if (dataset) {
    await writeShardLog(dir, shard, {
      status: 'done',
      started,
      finished: new Date().toISOString(),
      plates: plateKeys,
      images: stats.images,
      seconds: +((performance.now() - t00) / 1000).toFixed(2),
      files: [files.profiles.path, ...(files.wells ? [files.wells.path] : []), ...(files.cells ? [files.cells.path] : [])],
    });
  }
  const rowsWritten = files.profiles.rows + (files.wells?.rows ?? 0) + (files.cells?.rows ?? 0);
  return {
    files,
    stats,
    plateKeys,
    shard: opts.shard,
    skipped: data.skipped.length,
    writeSeconds,
    embedImagesPerSec: stats.images / Math.max(1e-9, stats.embedSeconds + stats.statsSeconds),
    writeRowsPerSec: rowsWritten / Math.max(1e-9, writeSeconds),
  };
}

/**
 * Reader options with `illumination: compute` writing to `dir` (beside the output) unless they
 * name a folder; a shard only reuses functions computed before (never all shards writing one folder).
 */
function withIlluminationDir(read: Record<string, unknown> | undefined, dir: string, log: ((line: string) => void) | undefined, shard: boolean): Record<string, unknown> {
  const il = read?.illumination;
  const o = typeof il === 'string' ? { mode: il } : (il as { mode?: string; dir?: string } | undefined);
  return o?.mode === 'compute' ? { ...read, illumination: { ...o, dir: o.dir ?? dir, log, quiet: !log, reuseOnly: shard } } : { ...read };
}

/** `min / median / max` of counts. */
function summarizeCounts(v: number[]): string {
  const s = [...v].sort((a, b) => a - b);
  return `min ${s[0]}, median ${s[s.length >> 1]}, max ${s.at(-1)}`;
}
