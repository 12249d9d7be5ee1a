import type { TextEncoding } from '../../util/text.ts';
import { UserError } from '../../util/errors.ts';
import { isBbbc021GalleryDir, loadBbbc021Gallery } from './bbbc021.ts';
import { isDatasetInput, readProfileDataset } from './dataset.ts';
import type { ProfileTable } from './profile-table.ts';
import { readProfileTable, type ReadProfileReport } from './read.ts';

/**
 * Reads a profile table (CSV, CSV.gz, Parquet), a partitioned Parquet dataset (a folder or a glob,
 * through DuckDB; `plates` selects plates there), or joins the raw BBBC021 per-well means when
 * `path` is the cytominergallery extdata folder (see {@link loadBbbc021Gallery}).
 */
export async function loadProfiles(
  path: string,
  opts: { dropConstant?: boolean; dropNaN?: boolean; encoding?: TextEncoding; plates?: string[] } = {},
): Promise<{ table: ProfileTable; report: ReadProfileReport & { notices?: string[] }; source: string }> {
  if (await isBbbc021GalleryDir(path)) return { ...(await loadBbbc021Gallery(path)), source: `${path} (BBBC021 per-well means, joined)` };
  if (isDatasetInput(path)) return readProfileDataset(path, opts);
  if (opts.plates) throw new UserError(`--plates selects plates of a partitioned dataset (a folder or glob); ${path} is one file.`);
  return { ...(await readProfileTable(path, opts)), source: path };
}
