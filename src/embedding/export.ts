import type { ProfileTable } from '../tables/profile-table.ts';
import { aggregateProfiles, WELL_COLUMNS, type AggregateMethod } from '../profiles/aggregate.ts';
import { rm } from 'node:fs/promises';
import { checkReplaceable, publish, recoverOutput, untrackTemp, withPath } from '../util/atomic.ts';
import { isBenParquet, writeProfilesParquet, type ProfileParquetOptions, type ProfileParquetSummary } from '../tables/parquet.ts';

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
 * Refuses (UserError) outputs that would replace a file ben-ssl did not write, or an input. Call it
 * before the work that produces the tables, so a refused path costs nothing.
 */
export function checkProfileOutputs(paths: readonly string[], inputs: readonly string[] = [], flag = '--out'): void {
  for (const p of paths) {
    recoverOutput(p); // temporary files of a killed export go first
    checkReplaceable(p, { marker: isBenParquet, inputs, flag });
  }
}

/**
 * Writes the per-image profiles to `path` and, unless `aggregate` is `none`, their well-level
 * aggregate (mean or median per [experiment, plate, well]) to a second file. Each file is
 * published atomically (temp + rename). The well file records `aggregation` and
 * `aggregated_by` in its key-value metadata.
 */
export async function exportProfiles(path: string, table: ProfileTable, opts: ExportOptions & { inputs?: readonly string[] } = {}): Promise<ExportSummary> {
  const { aggregate = 'mean', wellPath, wellKeys = WELL_COLUMNS, inputs, ...writeOpts } = opts;
  const wPath = wellPath ?? wellPathFor(path);
  checkProfileOutputs(aggregate === 'none' ? [path] : [path, wPath], inputs);
  // Both files are finished under temporary names first, then published together: a failure
  // (disk full, a kill) never leaves a per-image file without its well-level file.
  const temps: string[] = [];
  try {
    const { tempPath: t1, ...profiles } = await writeProfilesParquet(path, table, { ...writeOpts, publish: false });
    temps.push(t1);
    if (aggregate === 'none') {
      await publish(t1, path);
      return { profiles };
    }
    const wells = aggregateProfiles(table, { by: wellKeys, method: aggregate });
    const { tempPath: t2, ...wellSummary } = await writeProfilesParquet(wPath, wells, { ...writeOpts, onRowGroup: undefined, publish: false });
    temps.push(t2);
    await publish(t1, path);
    await publish(t2, wPath);
    return { profiles, wells: wellSummary };
  } catch (e) {
    throw withPath(e, path);
  } finally {
    for (const t of temps) {
      await rm(t, { force: true });
      untrackTemp(t);
    }
  }
}
