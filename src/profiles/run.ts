/** `ben profiles` as one library call: read a table, build the profiles, write Parquet. */
import { loadProfiles } from '../tables/load.ts';
import { metaName, type ProfileTable } from '../tables/profile-table.ts';
import { UserError } from '../util/errors.ts';
import { WELL_COLUMNS } from './aggregate.ts';
import { buildProfiles, checkProfilesOutput, writeProfiles, type ProfilesOptions, type ProfileStep } from './profiles.ts';

/** Options of {@link profilesToParquet}. */
export interface ProfilesToParquetOptions extends ProfilesOptions {
  /** Input table: Parquet, CSV, CSV.gz (or the BBBC021 cytominergallery folder). */
  input: string;
  /** Output Parquet file. */
  out: string;
  /** Of a partitioned dataset input, only these plates. */
  plates?: string[];
  /** Drop constant / NaN feature columns on reading (as `ben evaluate`; default true). */
  dropConstant?: boolean;
  dropNaN?: boolean;
}

/** What {@link profilesToParquet} did. */
export interface ProfilesSummary {
  input: string;
  out: string;
  rowsIn: number;
  rowsOut: number;
  features: number;
  droppedConstant: number;
  droppedNaN: number;
  steps: ProfileStep[];
}

/** The default well key of an embedding table when it has those columns (else undefined). */
export function defaultWellKeys(t: ProfileTable): string[] | undefined {
  return WELL_COLUMNS.every((k) => k in t.meta) ? WELL_COLUMNS : undefined;
}

/** Reads `input`, runs {@link buildProfiles} and writes `out` (atomically; never over the input). */
export async function profilesToParquet(opts: ProfilesToParquetOptions): Promise<ProfilesSummary> {
  checkProfilesOutput(opts.out, [opts.input]);
  const { table, report } = await loadProfiles(opts.input, { dropConstant: opts.dropConstant ?? true, dropNaN: opts.dropNaN ?? true, plates: opts.plates });
  if (opts.aggregate) for (const c of opts.aggregate.by) metaName(table, c);
  if (!opts.aggregate && !opts.correction && !opts.consensus) throw new UserError('ben profiles: nothing to do; choose --aggregate, --normalize or --consensus.');
  const { table: out, steps } = buildProfiles(table, opts);
  out.keyValue = { ...out.keyValue, profiles_source: opts.input };
  await writeProfiles(opts.out, out, { input: opts.input });
  return {
    input: opts.input,
    out: opts.out,
    rowsIn: table.n,
    rowsOut: out.n,
    features: out.d,
    droppedConstant: report.droppedConstant.length,
    droppedNaN: report.droppedNaN.length,
    steps,
  };
}
