import type { TextEncoding } from '../util/text.ts';
import { UserError } from '../util/errors.ts';
import { Registry } from '../util/registry.ts';
import { isDatasetInput, readProfileDataset } from './partitioned-dataset.ts';
import type { ProfileTable } from './profile-table.ts';
import { readProfileTable, type ReadProfileReport } from './read.ts';

/**
 * A profile source that is neither one table nor a partitioned dataset: a published data set's
 * own file layout (e.g. the BBBC021 per-well means joined with their annotations, in datasets/).
 * Registered by name; {@link loadProfiles} tries each source's `detect` first.
 */
export interface TableSource {
  /** One line: what it reads. */
  description: string;
  detect(path: string): Promise<boolean>;
  load(path: string): Promise<{ table: ProfileTable; report: ReadProfileReport }>;
}

/** Published data sets' layouts by name (registered in src/datasets/index.ts). */
export const tableSources = new Registry<TableSource>('table source');

/**
 * Reads a profile table (CSV, CSV.gz, Parquet), a partitioned Parquet dataset (a folder or a glob,
 * through DuckDB; `plates` selects plates there), or a registered data set layout
 * ({@link tableSources}, e.g. the BBBC021 extdata folder).
 */
export async function loadProfiles(
  path: string,
  opts: { dropConstant?: boolean; dropNaN?: boolean; encoding?: TextEncoding; plates?: string[] } = {},
): Promise<{ table: ProfileTable; report: ReadProfileReport & { notices?: string[] }; source: string }> {
  for (const name of tableSources.inOrder()) {
    const s = tableSources.get(name);
    if (await s.detect(path)) return { ...(await s.load(path)), source: `${path} (${s.description})` };
  }
  if (isDatasetInput(path)) return readProfileDataset(path, opts);
  if (opts.plates) throw new UserError(`--plates selects plates of a partitioned dataset (a folder or glob); ${path} is one file.`);
  return { ...(await readProfileTable(path, opts)), source: path };
}
