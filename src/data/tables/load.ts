import type { TextEncoding } from '../../util/text.ts';
import { isBbbc021GalleryDir, loadBbbc021Gallery } from './bbbc021.ts';
import type { ProfileTable } from './profile-table.ts';
import { readProfileTable, type ReadProfileReport } from './read.ts';

/**
 * Reads a profile table (CSV, CSV.gz, Parquet), or joins the raw BBBC021 per-well means when `path`
 * is the cytominergallery extdata folder (see {@link loadBbbc021Gallery}).
 */
export async function loadProfiles(
  path: string,
  opts: { dropConstant?: boolean; dropNaN?: boolean; encoding?: TextEncoding } = {},
): Promise<{ table: ProfileTable; report: ReadProfileReport; source: string }> {
  if (await isBbbc021GalleryDir(path)) return { ...(await loadBbbc021Gallery(path)), source: `${path} (BBBC021 per-well means, joined)` };
  return { ...(await readProfileTable(path, opts)), source: path };
}
