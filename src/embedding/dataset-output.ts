/**
 * Hive-partitioned profile datasets, the output of sharded `ben embed`:
 *
 *   <dir>/_ben_dataset.json                       marker: this folder is ours
 *   <dir>/plate=<key>/part-<shard>.parquet        one file per plate, written by the shard owning it
 *   <dir>/_shards/shard-<i>-of-<n>.json           each shard's log: plates, images, status
 *
 * beside the per-image dataset, `<dir>.wells/` (and `<dir>.cells/` with `--cells`) with the same
 * layout. Shards write disjoint plate folders, so they never touch each other's files; a re-run of
 * a shard replaces its own parts. DuckDB, Spark and pyarrow read the folder as one table
 * (`read_parquet('<dir>/**\/*.parquet', hive_partitioning = true)`).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import type { ProfileTable } from '../tables/profile-table.ts';
import { checkReplaceable, ensureDir, markerFile, writeFileAtomic } from '../util/atomic.ts';
import { UserError } from '../util/errors.ts';
import { isBenParquet, sliceRows, type ProfileParquetSummary } from '../tables/parquet.ts';
import type { ShardSpec } from './shard.ts';
import { DATASET_MARKER, PARTITION_KEY, PARTITION_COLUMN, encodePartitionValue, decodePartitionValue, partPath, shardLogPath, unfinishedShards, type ShardLog } from '../tables/dataset-layout.ts';

export { DATASET_MARKER, PARTITION_KEY, PARTITION_COLUMN, encodePartitionValue, decodePartitionValue, partPath, shardLogPath, unfinishedShards, type ShardLog };
import type { Dataset } from '../data/image-dataset.ts';
import type { AggregateMethod } from '../profiles/aggregate.ts';
import { checkProfileOutputs, exportProfiles, type ExportSummary } from './export.ts';
import { exportCellProfiles, withCellColumns } from './cells.ts';

/** Whether `--out` asks for a dataset folder (anything not ending in `.parquet`, e.g. `emb/`). */
export function isDatasetPath(out: string): boolean {
  return !/\.parquet$/i.test(out);
}

/** `emb/` -> `emb`. */
export function datasetDir(out: string): string {
  return out.length > 1 ? out.replace(/\/+$/, '') : out;
}

/** The sibling dataset of another level: `emb` -> `emb.wells`. */
export function siblingDataset(dir: string, level: 'wells' | 'cells'): string {
  return `${datasetDir(dir)}.${level}`;
}


/** The marker's content: deterministic, so shards starting together write the same bytes. */
function markerContent(level: string): string {
  return `${JSON.stringify({ format: 'ben-ssl profile dataset', version: 1, level, partitioning: [PARTITION_KEY], partition_column: PARTITION_COLUMN, files: `${PARTITION_KEY}=<key>/part-<shard>.parquet` }, null, 2)}\n`;
}

/** Whether `dir` is a profile dataset folder written by ben-ssl. */
export function isProfileDataset(dir: string): boolean {
  return existsSync(join(dir, DATASET_MARKER));
}

/**
 * Refuses (UserError) a dataset folder that exists, is not empty and is not ours, or holds an
 * input. Call before any work.
 */
export function checkDatasetOutput(dir: string, inputs: readonly string[], flag = '--out'): void {
  checkReplaceable(dir, { marker: markerFile(DATASET_MARKER), markerName: DATASET_MARKER, inputs, flag });
}

/**
 * Creates the folder with its marker in one step (idempotent; safe when several shards start at
 * once): the folder is made beside with the marker inside and renamed into place, so no shard ever
 * sees the dataset folder without its marker (which it would refuse as not ours).
 */
export async function openDataset(dir: string, level: 'images' | 'wells' | 'cells' | 'sites'): Promise<void> {
  const marker = join(dir, DATASET_MARKER);
  if (existsSync(marker)) return;
  await ensureDir(dirname(dir));
  const tmp = `${dir}.${process.pid}.tmp`;
  await mkdir(tmp, { recursive: true });
  try {
    await writeFile(join(tmp, DATASET_MARKER), markerContent(level));
    try {
      await rename(tmp, dir);
    } catch (e) {
      // Another shard made it first (or the user's empty folder is there): add the marker inside.
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
      if (!existsSync(marker)) await writeFileAtomic(marker, markerContent(level));
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * Rows of `t` grouped by plate key, each group contiguous in `t` (the embedder writes plate by
 * plate) or gathered when not, in first-appearance order.
 */
export function splitByPlate(t: ProfileTable): { key: string; table: ProfileTable }[] {
  const col = t.meta[PARTITION_COLUMN];
  if (!col) throw new Error(`table has no ${PARTITION_COLUMN} column`);
  const out: { key: string; table: ProfileTable }[] = [];
  let start = 0;
  const seen = new Set<string>();
  for (let i = 1; i <= t.n; i++) {
    if (i < t.n && col[i] === col[start]) continue;
    if (seen.has(col[start])) throw new Error(`rows of plate ${col[start]} are not contiguous`);
    seen.add(col[start]);
    out.push({ key: col[start], table: sliceRows(t, start, i) });
    start = i;
  }
  return out;
}

/**
 * Removes the other parts of a plate folder that we wrote (an earlier run with another shard
 * count, or the plate's former owner), so a plate is never held twice. Files not ours stay.
 */
export async function removeStaleParts(part: string): Promise<void> {
  const dir = join(part, '..');
  const mine = part.slice(dir.length + 1);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    if (n !== mine && /^part-\d+\.parquet$/.test(n) && isBenParquet(join(dir, n))) await rm(join(dir, n), { force: true });
  }
}

/** Writes a shard's log (atomically). */
export async function writeShardLog(dir: string, s: ShardSpec, log: Omit<ShardLog, 'shard' | 'shards' | 'host' | 'pid'>): Promise<void> {
  const full: ShardLog = { shard: s.index, shards: s.count, host: hostname(), pid: process.pid, ...log };
  await writeFileAtomic(shardLogPath(dir, s), `${JSON.stringify(full, null, 2)}\n`);
}

/** Refuses a dataset output combined with options that name a single file. */
export function checkDatasetFlags(opts: { wellOut?: string }): void {
  if (opts.wellOut && !isDatasetPath(opts.wellOut)) {
    throw new UserError(`--well-out ${opts.wellOut}: with a dataset folder as --out, --well-out names a folder too (default <out>.wells).`);
  }
}

/** Options of {@link exportProfileDataset}. */
export interface ExportDatasetOptions {
  shard: ShardSpec;
  /** Well-level aggregation (default mean; `none`: no well dataset). */
  aggregate?: AggregateMethod | 'none';
  /** Well-level dataset folder (default `<dir>.wells`). */
  wellDir?: string;
  /** With cells: the cell dataset folder and the cells' data set (their cell columns). */
  cellDir?: string;
  cells?: Dataset;
  /** Paths the command reads (never replaced). */
  inputs?: readonly string[];
  log?: (line: string) => void;
}

/** What {@link exportProfileDataset} wrote, summed over the plates (`path`: the folder). */
export type DatasetExportSummary = ExportSummary & { cells?: ProfileParquetSummary };

/**
 * Writes `table` (one shard's rows, plate after plate) as one part per plate into the dataset
 * `dir`, its well aggregate into `wellDir` (and, with cells, the cells into `cellDir`, site
 * profiles pooled from them into `dir`), each plate's files published together (see
 * {@link exportProfiles}).
 */
export async function exportProfileDataset(dir: string, table: ProfileTable, opts: ExportDatasetOptions): Promise<DatasetExportSummary> {
  const aggregate = opts.aggregate ?? 'mean';
  const wellDir = opts.wellDir ?? siblingDataset(dir, 'wells');
  const cells = opts.cells ? withCellColumns(table, opts.cells) : undefined;
  await openDataset(dir, cells ? 'sites' : 'images');
  if (aggregate !== 'none' || cells) await openDataset(wellDir, 'wells');
  if (cells) await openDataset(opts.cellDir!, 'cells');
  const sum = (path: string): ProfileParquetSummary => ({ path, rows: 0, rowGroups: 0, metaColumns: [], featureColumns: [] });
  const out: DatasetExportSummary = { profiles: sum(dir), ...(aggregate !== 'none' || cells ? { wells: sum(wellDir) } : {}), ...(cells ? { cells: sum(opts.cellDir!) } : {}) };
  const add = (into: ProfileParquetSummary | undefined, s: ProfileParquetSummary | undefined) => {
    if (!into || !s) return;
    into.rows += s.rows;
    into.rowGroups += s.rowGroups;
    into.metaColumns = s.metaColumns;
    into.featureColumns = s.featureColumns;
  };
  const plates = splitByPlate(cells ?? table);
  for (const [k, { key, table: pt }] of plates.entries()) {
    const p = partPath(dir, key, opts.shard.index);
    const w = partPath(wellDir, key, opts.shard.index);
    const written: string[] = [p];
    if (cells) {
      const c = partPath(opts.cellDir!, key, opts.shard.index);
      checkProfileOutputs([p, w, c], opts.inputs);
      const r = await exportCellProfiles(p, pt, { cellPath: c, wellPath: w });
      add(out.profiles, r.sites);
      add(out.wells, r.wells);
      add(out.cells, r.cells);
      written.push(w, c);
    } else {
      const r = await exportProfiles(p, pt, { aggregate, wellPath: w, inputs: opts.inputs });
      add(out.profiles, r.profiles);
      add(out.wells, r.wells);
      if (r.wells) written.push(w);
    }
    for (const f of written) await removeStaleParts(f);
    opts.log?.(`wrote plate ${key} (${k + 1}/${plates.length}): ${pt.n} rows`);
  }
  return out;
}
