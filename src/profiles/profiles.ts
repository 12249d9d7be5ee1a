/**
 * `ben profiles` as a library call: embeddings (or any profile table) -> well profiles -> corrected
 * per plate on controls -> optional treatment consensus -> Parquet, each step recorded in the file's
 * key-value metadata (`profiles_steps`, JSON), the order pycytominer pipelines use
 * (aggregate, normalize, consensus).
 */
import { readFileSync } from 'node:fs';
import { parquetMetadata } from 'hyparquet';
import type { ProfileTable } from '../tables/profile-table.ts';
import { isBenParquet, writeProfilesParquet, type ProfileParquetSummary } from '../tables/parquet.ts';
import { checkReplaceable } from '../util/atomic.ts';
import { UserError } from '../util/errors.ts';
import { aggregateProfiles, type AggregateMethod } from './aggregate.ts';
import { correctProfiles, type CorrectionOptions, type CorrectionStep } from './correct.ts';

/** Options of {@link buildProfiles}; every step is optional. */
export interface ProfilesOptions {
  /** Sites / cells -> wells: group columns (e.g. experiment, plate, well) and method. Absent: rows are already wells. */
  aggregate?: { by: string[]; method?: AggregateMethod };
  /** Correction fitted per group (plate or batch) on controls or all wells. Absent: none. */
  correction?: CorrectionOptions;
  /** Wells -> one consensus profile per treatment (e.g. compound, concentration). pycytominer's consensus default is the median. */
  consensus?: { by: string[]; method?: AggregateMethod };
}

/** One recorded step. */
export type ProfileStep =
  | { step: 'aggregate' | 'consensus'; by: string[]; method: AggregateMethod; rowsIn: number; rowsOut: number }
  | CorrectionStep;

/** Key-value metadata key holding the JSON list of {@link ProfileStep}s; it also marks a file as ours. */
export const PROFILE_STEPS_KEY = 'profiles_steps';

/** Runs the steps of `opts` on `t` in order: aggregate, correct, consensus. */
export function buildProfiles(t: ProfileTable, opts: ProfilesOptions): { table: ProfileTable; steps: ProfileStep[] } {
  const steps: ProfileStep[] = [];
  let cur = t;
  if (opts.aggregate) {
    const method = opts.aggregate.method ?? 'mean';
    const next = aggregateProfiles(cur, { by: opts.aggregate.by, method });
    steps.push({ step: 'aggregate', by: next.keyValue!.aggregated_by.split(','), method, rowsIn: cur.n, rowsOut: next.n });
    cur = next;
  }
  if (opts.correction) {
    const r = correctProfiles(cur, opts.correction);
    steps.push(r.step);
    cur = r.table;
  }
  if (opts.consensus) {
    const method = opts.consensus.method ?? 'median';
    const next = aggregateProfiles(cur, { by: opts.consensus.by, method });
    steps.push({ step: 'consensus', by: next.keyValue!.aggregated_by.split(','), method, rowsIn: cur.n, rowsOut: next.n });
    cur = next;
  }
  const { aggregation: _a, aggregated_by: _b, ...kv } = cur.keyValue ?? {};
  void _a;
  void _b;
  const prior = t.keyValue?.[PROFILE_STEPS_KEY];
  const all = [...(prior ? (JSON.parse(prior) as ProfileStep[]) : []), ...steps];
  return { table: { ...cur, keyValue: { ...kv, [PROFILE_STEPS_KEY]: JSON.stringify(all) } }, steps };
}

/** The steps recorded in a profile table's key-value metadata (empty when none). */
export function profileSteps(t: ProfileTable): ProfileStep[] {
  const s = t.keyValue?.[PROFILE_STEPS_KEY];
  return s ? (JSON.parse(s) as ProfileStep[]) : [];
}

/** Whether `path` is a Parquet file `ben profiles` wrote (ben-ssl's footer and the steps key): the marker of replaceable outputs. */
export function isProfilesParquet(path: string): boolean {
  if (!isBenParquet(path)) return false;
  try {
    const b = readFileSync(path);
    const md = parquetMetadata(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
    return (md.key_value_metadata ?? []).some((kv) => kv.key === PROFILE_STEPS_KEY);
  } catch {
    return false;
  }
}

/**
 * Refuses (UserError) an output path that is not `*.parquet`, that would replace an input, or that
 * holds a file `ben profiles` did not write. Call it before the work.
 */
export function checkProfilesOutput(out: string, inputs: readonly string[] = []): void {
  if (!/\.parquet$/i.test(out)) throw new UserError(`--out "${out}": profiles are written as Parquet; name the file *.parquet.`);
  checkReplaceable(out, { marker: isProfilesParquet, markerName: `the "${PROFILE_STEPS_KEY}" key of ben profiles`, inputs, flag: '--out' });
}

/** Writes profiles to `out` (Parquet, atomically), after {@link checkProfilesOutput}. */
export async function writeProfiles(out: string, table: ProfileTable, opts: { input?: string } = {}): Promise<ProfileParquetSummary> {
  checkProfilesOutput(out, opts.input ? [opts.input] : []);
  const { tempPath: _t, ...summary } = await writeProfilesParquet(out, table);
  void _t;
  return summary;
}
