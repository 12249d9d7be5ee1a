/**
 * `ben embed` as a library call: load a saved model and a data set, embed plate by plate in a
 * BEN normalization mode, write the per-image Parquet file and its well-level aggregate.
 */
import { readDataset } from '../data/readers/index.ts';
import type { Dataset } from '../data/dataset.ts';
import { loadModel, readModelMetadata } from '../models/io.ts';
import type { NormalizationMode } from '../models/ben-batchnorm.ts';
import { UserError } from '../util/errors.ts';
import type { AggregateMethod } from './aggregate.ts';
import { embedDataset, PREPROCESS, type EmbedStats, type PreprocessName } from './embedder.ts';
import { checkProfileOutputs, exportProfiles, wellPathFor, type ExportSummary } from './export.ts';

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
  /** Well-level file: aggregation (default mean) or `none`. */
  aggregate?: AggregateMethod | 'none';
  /** Well-level file path (default `<out>.wells.parquet`). */
  wellOut?: string;
  /** Skip unreadable images (counted) instead of failing. */
  skipBad?: boolean;
  /** Reader options: channels, label / experiment / control columns, image-folder pattern, intensity (cli/reader-options.ts). */
  read?: Record<string, unknown>;
  /** Progress of the embedding pass: `start(total images)`, `tick(images)`, `stop()`. */
  progress?: { start(total: number): void; tick(n: number): void; stop(): void };
  /** Notices (e.g. "reading the data set"), one line each. */
  log?: (line: string) => void;
}

/** What {@link embedToParquet} did, with the rates to compare (images/s embedding vs rows/s writing). */
export interface EmbedToParquetSummary {
  files: ExportSummary;
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
 * record the model directory, its saved metadata, the data set, the mode and preprocessing.
 */
export async function embedToParquet(opts: EmbedToParquetOptions): Promise<EmbedToParquetSummary> {
  if (!opts.out.endsWith('.parquet')) throw new UserError(`--out ${opts.out}: name the output file with a .parquet extension.`);
  // Refused outputs fail before any work: never a user's file, never an input.
  checkProfileOutputs(opts.aggregate === 'none' ? [opts.out] : [opts.out, opts.wellOut ?? wellPathFor(opts.out)], [opts.dataPath, opts.modelDir]);
  const modelMeta = await readModelMetadata(opts.modelDir);
  const preprocess = opts.preprocess ?? preprocessFromMetadata(modelMeta, opts.modelDir);

  opts.log?.(`reading ${opts.dataPath}...`);
  let data: Dataset = await readDataset(opts.dataPath, { ...opts.read, layout: opts.layout, skipBad: opts.skipBad });
  if (opts.splits?.length) data = data.split(opts.splits);
  const info = data.summary();
  opts.log?.(`${info.images} images, ${info.plates} plates, ${info.height}x${info.width}x${info.channels.length} ${info.dtype}${info.inMemory ? '' : ' (decoded on the fly)'}`);

  const model = await loadModel(opts.modelDir);
  const declared = modelMeta['embeddingDim'];
  const outDim = model.outputs[0]?.shape[1];
  if (typeof declared === 'number' && outDim !== declared) {
    model.dispose();
    throw new UserError(`${opts.modelDir}: the model outputs ${outDim} values per image but its metadata declares embeddingDim ${declared}; it may be a classifier rather than the backbone. Save and embed the backbone.`);
  }
  opts.progress?.start(data.size);
  let table, stats;
  try {
    ({ table, stats } = await embedDataset(model, data, {
      normalization: opts.normalization,
      batchSize: opts.batchSize,
      preprocess,
      onImages: opts.progress ? (n) => opts.progress!.tick(n) : undefined,
      keyValue: {
        model: opts.modelDir,
        model_metadata: JSON.stringify(modelMeta),
        data: opts.dataPath,
        data_layout: data.layout,
        splits: (opts.splits ?? []).join(','),
      },
    }));
  } finally {
    opts.progress?.stop();
    model.dispose();
  }
  const t0 = performance.now();
  const files = await exportProfiles(opts.out, table, { aggregate: opts.aggregate ?? 'mean', wellPath: opts.wellOut, inputs: [opts.dataPath, opts.modelDir] });
  const writeSeconds = (performance.now() - t0) / 1000;
  const rowsWritten = files.profiles.rows + (files.wells?.rows ?? 0);
  return {
    files,
    stats,
    skipped: data.skipped.length,
    writeSeconds,
    embedImagesPerSec: stats.images / Math.max(1e-9, stats.embedSeconds + stats.statsSeconds),
    writeRowsPerSec: rowsWritten / Math.max(1e-9, writeSeconds),
  };
}

/** The preprocessing a saved model declares (`preprocess` in its metadata), else `standardize`. */
function preprocessFromMetadata(meta: Record<string, unknown>, dir: string): PreprocessName {
  const p = meta['preprocess'];
  if (p === undefined) return 'standardize';
  if (typeof p === 'string' && p in PREPROCESS) return p as PreprocessName;
  throw new UserError(`${dir}: the model metadata names preprocess ${JSON.stringify(p)}, which ben embed does not know (${Object.keys(PREPROCESS).join(', ')}). Pass --preprocess explicitly.`);
}
