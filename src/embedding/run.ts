/**
 * `ben embed` as a library call: load a saved model and a data set, embed plate by plate in a
 * BEN normalization mode, write the per-image Parquet file and its well-level aggregate.
 */
import { readDataset } from '../data/readers/index.ts';
import type { Dataset } from '../data/dataset.ts';
import type { NormalizationMode } from '../models/ben-batchnorm.ts';
import { UserError } from '../util/errors.ts';
import type { AggregateMethod } from '../profiles/aggregate.ts';
import { embedDataset, type EmbedStats, type PreprocessName } from './embedder.ts';
import { checkProfileOutputs, exportProfiles, wellPathFor, type ExportSummary } from './export.ts';
import type { ResizeMode } from './input.ts';
import { loadEmbeddingModel } from './saved-model.ts';
import { cellCrops, type CellCropOptions } from '../data/cells/crops.ts';
import { cellPathFor, exportCellProfiles, withCellColumns } from './cells.ts';
import type { ProfileParquetSummary } from '../data/tables/parquet.ts';

/** Options of {@link embedToParquet}. */
export interface EmbedToParquetOptions {
  /** Saved-model directory (`model.json` + `weights.bin`, models/io.ts). */
  modelDir: string;
  /** Data set folder or LoadData CSV. */
  dataPath: string;
  /** Output Parquet file (one row per image). */
  out: string;
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
  /** Well-level file path (default `<out>.wells.parquet`). */
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
  cells?: Omit<CellCropOptions, 'onSite' | 'size'> & { size?: number };
  /** Progress of the embedding pass: `start(total images)`, `tick(images)`, `stop()`. */
  progress?: { start(total: number): void; tick(n: number): void; stop(): void };
  /** Notices (e.g. "reading the data set"), one line each. */
  log?: (line: string) => void;
}

/** What {@link embedToParquet} did, with the rates to compare (images/s embedding vs rows/s writing). */
export interface EmbedToParquetSummary {
  files: ExportSummary & { cells?: ProfileParquetSummary };
  stats: EmbedStats;
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
  if (!opts.out.endsWith('.parquet')) throw new UserError(`--out ${opts.out}: name the output file with a .parquet extension.`);
  // Refused outputs fail before any work: never a user's file, never an input.
  const outs = opts.cells ? [opts.out, cellPathFor(opts.out), opts.wellOut ?? wellPathFor(opts.out)] : opts.aggregate === 'none' ? [opts.out] : [opts.out, opts.wellOut ?? wellPathFor(opts.out)];
  checkProfileOutputs(outs, [opts.dataPath, opts.modelDir]);
  // The model first: a bad model directory fails before the data set is read.
  const em = await loadEmbeddingModel(opts.modelDir, { preprocess: opts.preprocess, resizeMode: opts.resizeMode });
  opts.log?.(`reading ${opts.dataPath}...`);
  let table, stats, data: Dataset;
  try {
    data = await readDataset(opts.dataPath, { ...opts.read, layout: opts.layout, skipBad: opts.skipBad });
    if (opts.splits?.length) data = data.split(opts.splits);
    const trainedCrops = em.metadata.crops as { size?: unknown } | undefined;
    if (trainedCrops && !opts.cells) opts.log?.('notice: the model was trained on single-cell crops; pass --cells to embed cells (site profiles pooled from them).');
    if (opts.cells) {
      const sites = data.size;
      const size = opts.cells.size ?? (typeof trainedCrops?.size === 'number' ? trainedCrops.size : 48);
      const r = await cellCrops(data, { ...opts.cells, size });
      data = r.data;
      opts.log?.(`${data.size} cells from ${sites} sites (nuclei per site: ${summarizeCounts(r.sites.map((c) => c.detected))})`);
    }
    const info = data.summary();
    opts.log?.(`${info.images} images, ${info.plates} plates, ${info.height}x${info.width}x${info.channels.length} ${info.dtype}${info.inMemory ? '' : ' (decoded on the fly)'}`);
    if (info.height !== em.inputSize || info.width !== em.inputSize) opts.log?.(`model input ${em.inputSize}x${em.inputSize}: --resize-mode ${em.resizeMode}`);
    const notice = channelNotice(em.metadata.channels, data.channels);
    if (notice) opts.log?.(notice);
    opts.progress?.start(data.size);
    ({ table, stats } = await embedDataset(em.model, data, {
      normalization: opts.normalization,
      batchSize: opts.batchSize,
      preprocess: em.preprocess,
      inputSize: em.inputSize,
      inputsPerImage: em.inputsPerImage(data.images),
      onImages: opts.progress ? (n) => opts.progress!.tick(n) : undefined,
      keyValue: {
        model: opts.modelDir,
        model_metadata: JSON.stringify(em.metadata),
        data: opts.dataPath,
        data_layout: data.layout,
        splits: (opts.splits ?? []).join(','),
        ...em.keyValue,
      },
    }));
  } finally {
    opts.progress?.stop();
    em.dispose();
  }
  const t0 = performance.now();
  let files: EmbedToParquetSummary['files'];
  if (opts.cells) {
    const c = await exportCellProfiles(opts.out, withCellColumns(table, data), { wellPath: opts.wellOut });
    files = { profiles: c.sites, wells: c.wells, cells: c.cells };
  } else {
    files = await exportProfiles(opts.out, table, { aggregate: opts.aggregate ?? 'mean', wellPath: opts.wellOut, inputs: [opts.dataPath, opts.modelDir] });
  }
  const writeSeconds = (performance.now() - t0) / 1000;
  const rowsWritten = files.profiles.rows + (files.wells?.rows ?? 0) + (files.cells?.rows ?? 0);
  return {
    files,
    stats,
    skipped: data.skipped.length,
    writeSeconds,
    embedImagesPerSec: stats.images / Math.max(1e-9, stats.embedSeconds + stats.statsSeconds),
    writeRowsPerSec: rowsWritten / Math.max(1e-9, writeSeconds),
  };
}

/** `min / median / max` of counts. */
function summarizeCounts(v: number[]): string {
  const s = [...v].sort((a, b) => a - b);
  return `min ${s[0]}, median ${s[s.length >> 1]}, max ${s.at(-1)}`;
}

/** Channel names compared loosely (`OrigDNA` = `dna`). */
const channelKey = (c: string) => c.replace(/^orig/i, '').toLowerCase();

/**
 * A notice when the model's training channels (its metadata) and the data set's share names in a
 * different order, or differ: the embedder takes channels by position.
 */
export function channelNotice(modelChannels: unknown, dataChannels: readonly string[]): string | undefined {
  if (!Array.isArray(modelChannels) || !modelChannels.every((c) => typeof c === 'string')) return undefined;
  const m = modelChannels.map(channelKey);
  const d = dataChannels.map(channelKey);
  if (m.join('\u0000') === d.join('\u0000')) return undefined;
  const same = m.length === d.length && [...m].sort().join() === [...d].sort().join();
  return same
    ? `notice: the model was trained on channels [${modelChannels.join(', ')}] but the data set lists them as [${dataChannels.join(', ')}]; channels are taken by position, so order the data set's channels as the model's.`
    : `notice: the model was trained on channels [${modelChannels.join(', ')}], the data set has [${dataChannels.join(', ')}]; channels are taken by position.`;
}
