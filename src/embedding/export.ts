import type { ProfileTable } from '../evaluation/profile-table.ts';
import { aggregateProfiles, WELL_KEYS, type AggregateMethod } from './aggregate.ts';
import { writeProfilesParquet, type ProfileParquetOptions, type ProfileParquetSummary } from './parquet.ts';

/** Options of {@link exportProfiles}. */
export interface ExportOptions extends ProfileParquetOptions {
  /** Well-level aggregation written to a second file (default `mean`; `none` skips it). */
  aggregate?: AggregateMethod | 'none';
  /** Path of the well-level file (default {@link wellPathFor}(path)). */
  wellPath?: string;
  /** Group columns of the well-level file (default experiment, plate, well). */
  wellKeys?: string[];
}

/** What {@link exportProfiles} wrote. */
export interface ExportSummary {
  profiles: ProfileParquetSummary;
  wells?: ProfileParquetSummary;
}

/** Default well-level path beside the per-image file: `x.parquet` -> `x.wells.parquet`. */
export function wellPathFor(path: string): string {
  return path.endsWith('.parquet') ? `${path.slice(0, -'.parquet'.length)}.wells.parquet` : `${path}.wells.parquet`;
}

/**
 * Writes the per-image profiles to `path` and, unless `aggregate` is `none`, their well-level
 * aggregate (mean or median per [experiment, plate, well]) to a second file. Each file is
 * published atomically (temp + rename). The well file records `aggregation` and
 * `aggregated_by` in its key-value metadata.
 */
export async function exportProfiles(path: string, table: ProfileTable, opts: ExportOptions = {}): Promise<ExportSummary> {
  const { aggregate = 'mean', wellPath, wellKeys = WELL_KEYS, ...writeOpts } = opts;
  const profiles = await writeProfilesParquet(path, table, writeOpts);
  if (aggregate === 'none') return { profiles };
  const wells = aggregateProfiles(table, { by: wellKeys, method: aggregate });
  const wellSummary = await writeProfilesParquet(wellPath ?? wellPathFor(path), wells, { ...writeOpts, onRowGroup: undefined });
  return { profiles, wells: wellSummary };
}
