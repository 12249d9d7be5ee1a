/**
 * The embed stage, one function for `ben embed` and a recipe's `embed` stage: match the data
 * set's channels to the model's by name, embed plate by plate in a BEN normalization mode, and
 * write the per-image (or per-cell) Parquet with its well level, as one file or one shard of a
 * partitioned dataset. Every file records the same key-value metadata: the model directory and
 * its saved metadata, the data set and its layout, the splits, the normalization, the model input
 * choices, plus the caller's provenance (a recipe's name and variant, a shard).
 */
import type { Dataset } from '../data/image-dataset.ts';
import type { NormalizationMode } from '../models/ben-batchnorm.ts';
import type { AggregateMethod } from '../profiles/aggregate.ts';
import type { ProfileTable } from '../tables/profile-table.ts';
import type { ProfileParquetSummary } from '../tables/parquet.ts';
import { exportCellProfiles, withCellColumns } from './cells.ts';
import { exportProfileDataset } from './dataset-output.ts';
import { embedDataset, type EmbedStats } from './embedder.ts';
import { exportProfiles, type ExportSummary } from './export.ts';
import { matchModelChannels } from './model-channels.ts';
import type { EmbeddingModel } from './saved-model.ts';
import type { ShardSpec } from './shard.ts';

/** One shard of a partitioned dataset (embedding/dataset-output.ts) as the output. */
export interface DatasetTarget {
  dir: string;
  shard: ShardSpec;
  wellDir: string;
  cellDir: string;
}

/** Options of {@link embedAndWrite}. */
export interface EmbedAndWriteOptions {
  /** The loaded model (embedding/saved-model.ts) and the directory it came from. */
  model: EmbeddingModel;
  modelDir: string;
  /** The images: sites, or single cells cut by data/cells/crops.ts (then `cells` is true). */
  data: Dataset;
  /** Where the data set was read from. */
  dataPath: string;
  /** The splits embedded (empty: all). */
  splits?: readonly string[];
  normalization: NormalizationMode;
  /** Images per forward pass (default 64). */
  batchSize?: number;
  /** A Parquet file path, or one shard of a partitioned dataset. */
  out: string | DatasetTarget;
  /** Well-level aggregation, or `none` (no well file). Cells are always pooled (mean of unit cells). */
  aggregate: AggregateMethod | 'none';
  /** Well-level file (default `<out>.wells.parquet`). */
  wellOut?: string;
  /** `data` holds cells: write cells, site profiles pooled from them, and wells. */
  cells?: boolean;
  /** Paths the command reads (never replaced). */
  inputs?: readonly string[];
  /** Provenance added to the files' key-value metadata (e.g. `recipe`, `variant`, `shard`). */
  provenance?: Record<string, string>;
  /** Images embedded so far (progress). */
  onImages?: (n: number) => void;
  /** Called when the last image is embedded, before writing (e.g. to close a progress bar). */
  onEmbedded?: () => void;
  log?: (line: string) => void;
}

/** What {@link embedAndWrite} did. */
export interface EmbedAndWriteResult {
  /** Site-level profiles: one per image, or pooled from the cells. */
  table: ProfileTable;
  files: ExportSummary & { cells?: ProfileParquetSummary };
  stats: EmbedStats;
  writeSeconds: number;
}

/** The key-value metadata every embeddings file carries (before the caller's provenance). */
export function embeddingKeyValue(o: Pick<EmbedAndWriteOptions, 'model' | 'modelDir' | 'dataPath' | 'splits'>, data: Dataset): Record<string, string> {
  return {
    model: o.modelDir,
    model_metadata: JSON.stringify(o.model.metadata),
    data: o.dataPath,
    data_layout: data.layout,
    splits: (o.splits ?? []).join(','),
  };
}

/** Embeds `data` with the model and writes it (see the module comment). */
export async function embedAndWrite(o: EmbedAndWriteOptions): Promise<EmbedAndWriteResult> {
  const data = matchModelChannels(o.model.metadata.channels, o.data, o.modelDir, o.log);
  const em = o.model;
  const { table, stats } = await embedDataset(em.model, data, {
    normalization: o.normalization,
    batchSize: o.batchSize,
    preprocess: em.preprocess,
    inputSize: em.inputSize,
    inputsPerImage: em.inputsPerImage(data.images),
    onImages: o.onImages,
    keyValue: { ...embeddingKeyValue(o, data), ...o.provenance, ...em.keyValue },
  });
  o.onEmbedded?.();
  const t0 = performance.now();
  let files: EmbedAndWriteResult['files'];
  let sites: ProfileTable;
  if (typeof o.out !== 'string') {
    const { dir, shard, wellDir, cellDir } = o.out;
    files = await exportProfileDataset(dir, table, { shard, aggregate: o.aggregate, wellDir, cellDir: o.cells ? cellDir : undefined, cells: o.cells ? data : undefined, inputs: o.inputs, log: o.log });
    sites = table;
  } else if (o.cells) {
    const c = await exportCellProfiles(o.out, withCellColumns(table, data), { wellPath: o.wellOut });
    files = { profiles: c.sites, wells: c.wells, cells: c.cells };
    sites = c.siteTable;
  } else {
    files = await exportProfiles(o.out, table, { aggregate: o.aggregate, wellPath: o.wellOut, inputs: o.inputs });
    sites = table;
  }
  return { table: sites, files, stats, writeSeconds: (performance.now() - t0) / 1000 };
}
