/** Shared readers of the reference data in /work/shared/data used by the evaluation tests. */
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { readProfileTable } from '../../src/tables/read.ts';
import type { ProfileTable } from '../../src/tables/profile-table.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
/** Root of the shared data folder (env BEN_SHARED_DATA overrides). */
export const SHARED_DATA = process.env.BEN_SHARED_DATA ?? resolve(here, '../../../shared/data');
export const LINCS_PLATE = `${SHARED_DATA}/peers/cytominer-eval/SQ00015054_normalized_feature_select.csv.gz`;
export const COPAIRS_AP = `${SHARED_DATA}/peers/copairs/ref_SQ00015054_activity_ap.csv`;
export const COPAIRS_MAP = `${SHARED_DATA}/peers/copairs/ref_SQ00015054_activity_map.csv`;
export const GALLERY = `${SHARED_DATA}/peers/cytominergallery`;
export const MORPHEUS = `${SHARED_DATA}/real/profiles/bbbc021_morpheus/BBBC021_feature_selected_mad_robustize.csv`;

let lincs: Promise<ProfileTable> | undefined;
/** The LINCS plate SQ00015054 (read once per test file). */
export function lincsPlate(): Promise<ProfileTable> {
  lincs ??= readProfileTable(LINCS_PLATE).then((r) => r.table);
  return lincs;
}
