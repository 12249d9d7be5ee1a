/**
 * The `Correction` plug-in: a post-hoc correction of profiles, `(profiles, plate groups, batches,
 * fit rows, options) -> profiles`, registered by name in {@link corrections}. The registry is the
 * one list of correction names: `ben profiles --normalize`, `ben evaluate --normalize` and the
 * recipe's `profiles.normalize` derive their choices from it. `correct.ts` runs them.
 */
import { z } from 'zod';
import type { ProfileTable } from '../tables/profile-table.ts';
import { groupCodes, metaColumn } from '../tables/profile-table.ts';
import { UserError } from '../util/errors.ts';
import { Registry } from '../util/registry.ts';

/** Which rows are negative controls (e.g. `Metadata_Compound == DMSO`). */
export interface ControlSpec {
  column: string;
  value: string;
}

/** Rows a correction is fitted on: the negative controls, or every row. */
export type FitOn = 'controls' | 'all';

/** Rows of one group (a plate, a batch), with the group's label (`E1/3` for a tuple). */
export interface RowGroup {
  label: string;
  rows: number[];
}

/** What a correction sees. */
export interface CorrectionInput {
  /** The table (metadata; its features are also in `x`). */
  table: ProfileTable;
  /** Features as float64, row-major [n, d]: a copy the correction may overwrite and return. */
  x: Float64Array;
  n: number;
  d: number;
  /** The plate groups (`groupBy`), each fitted on its own by the per-plate corrections. */
  groups: RowGroup[];
  /** The batches: the tuple of the `batch` columns (default the plate groups). */
  batches: RowGroup[];
  /** The batch columns (full names; the plate columns when no batch was named). */
  batchColumns: string[];
  /** Whether each row is a fit row. */
  fit: boolean[];
  fitOn: FitOn;
}

/** What a correction returns. */
export interface CorrectionOutput {
  /** Corrected features, row-major [n, d]. */
  x: Float64Array;
  d: number;
  /** New feature names when the output is a new space (PCs, whitened components). */
  featureNames?: string[];
  /** Fields recorded in the step (`components`, `iterations`, ...). */
  record: Partial<CorrectionStep>;
  /** One line on what it did, for `ben profiles`' console output. */
  summary: string;
  /** Said when it runs: a configuration that will likely hurt (e.g. fewer fit rows than features). */
  warnings: string[];
}

/**
 * How a correction uses the plate groups and the batches:
 * - `per-group`: fitted per plate group (`groupBy`, required: `--plate`);
 * - `pooled`: fitted on all fit rows together, or per plate group when one is named;
 * - `between-batches`: corrects between the batches (`batch`, default the plate groups' tuple).
 */
export type CorrectionGrouping = 'per-group' | 'pooled' | 'between-batches';

/** A registered correction. */
export interface Correction<P extends Record<string, unknown> = Record<string, unknown>> {
  name: string;
  /** One line for `--help` and the docs. */
  description: string;
  grouping: CorrectionGrouping;
  /** Rows it may be fitted on; the first is its default. */
  fitOn: readonly FitOn[];
  /** True when the output keeps the input's feature columns (false: a new space, e.g. PCs). */
  keepsFeatures: boolean;
  /** Its own options (`--correction-option NAME=VALUE`, the recipe's `profiles.options`), with defaults. */
  options: z.ZodType<P>;
  apply(input: CorrectionInput, options: P): CorrectionOutput;
}

/** What {@link correctProfiles} did, as recorded in a profile file's metadata. */
export interface CorrectionStep {
  step: 'correct';
  method: string;
  groupBy: string[];
  fitOn: FitOn;
  controls?: ControlSpec;
  groups: number;
  fitRows: number;
  /** The method's options as used (defaults filled in). */
  params?: Record<string, unknown>;
  /** standardize / mad_robustize: (group, feature) pairs whose fitted scale was zero (centred only). */
  zeroScale?: number;
  epsilon?: number;
  /** Batch columns and their number of batches (TVN's alignment, ComBat, Harmony). */
  batch?: string[];
  batches?: number;
  /** TVN: whitened components kept; Harmony: corrected principal components. */
  components?: number;
  /** Harmony: share of the profiles' variance the PCs keep. */
  explainedVariance?: number;
  /** Harmony: rounds run and whether its objective converged; ComBat: the slowest feature's EB rounds. */
  iterations?: number;
  converged?: boolean;
  /** ComBat: features left as they were (constant within a batch, as sva's ComBat leaves them). */
  unadjusted?: number;
  /** The method's one-line account (see {@link CorrectionOutput.summary}). */
  summary?: string;
  /** Warnings said when it ran. */
  warnings?: string[];
}

/** Corrections by name; registration order is the order of help and docs. */
export const corrections = new Registry<Correction>('correction');

/** Registers `c` (one line per correction in correct.ts). */
export function registerCorrection<P extends Record<string, unknown>>(c: Correction<P>): void {
  corrections.register(c.name, c as unknown as Correction);
}

/** Whether each row is a fit row; throws a UserError naming the column when no control is found. */
export function fitRowMask(t: ProfileTable, fitOn: FitOn, controls: ControlSpec | undefined): boolean[] {
  if (fitOn === 'all') return new Array<boolean>(t.n).fill(true);
  if (!controls) throw new UserError('Fitting a correction on controls needs the control wells (e.g. --control Compound=DMSO), or fit on all wells.');
  const col = metaColumn(t, controls.column);
  const mask = col.map((v) => v === controls.value);
  if (!mask.some(Boolean)) {
    const seen = [...new Set(col)].slice(0, 10).join(', ');
    throw new UserError(`No control rows: column "${controls.column}" never equals "${controls.value}" (values include: ${seen}).`);
  }
  return mask;
}

/** Rows of each group of `columns` (one group when empty), in first-appearance order, with the group's label. */
export function groupsOf(t: ProfileTable, columns: string[]): RowGroup[] {
  if (columns.length === 0) return [{ label: '(all rows)', rows: Array.from({ length: t.n }, (_, i) => i) }];
  const { codes, keys } = groupCodes(t, columns);
  const out = keys.map((k) => ({ label: k.join('/'), rows: [] as number[] }));
  for (let i = 0; i < t.n; i++) out[codes[i]].rows.push(i);
  return out;
}

/**
 * The warning of a correction that fits a statistic per group on fewer rows than there are
 * features (`what`: the statistic), or undefined. With n fit rows a per-feature scale carries a
 * sampling error of about 1 / sqrt(2 (n - 1)) (32 % at n = 6), different on every group and
 * feature: a fingerprint of the group that a linear probe reads, and that moves every treatment.
 */
export function fewFitRowsWarning(method: string, groups: RowGroup[], fit: boolean[], d: number, what: string, fix: string): string | undefined {
  const sizes = groups.map((g) => g.rows.reduce((s, i) => s + (fit[i] ? 1 : 0), 0));
  const few = sizes.filter((s) => s < d);
  if (!few.length) return undefined;
  const lo = Math.min(...few);
  const hi = Math.max(...few);
  return `${method}: ${few.length} of ${groups.length} group(s) fit ${what} on fewer rows (${lo === hi ? lo : `${lo} to ${hi}`}) than the ${d} features; such statistics are mostly sampling noise, which moves every profile of the group (a different noise per group, which can remove the biology with the batch effect). ${fix}`;
}

/**
 * `NAME=VALUE` strings (`--correction-option`) as an options object: values parsed as JSON where
 * they are JSON (`2`, `true`, `[1,2]`), else kept as strings.
 */
export function parseCorrectionOptions(pairs: readonly string[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of pairs ?? []) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new UserError(`--correction-option "${p}": write NAME=VALUE (e.g. theta=2, nPcs=30, covariates=moa).`);
    const v = p.slice(eq + 1);
    let value: unknown = v;
    try {
      value = JSON.parse(v);
    } catch {
      value = v;
    }
    out[p.slice(0, eq)] = value;
  }
  return out;
}

/** `options` validated by the correction's schema (defaults filled in); a UserError names the bad option. */
export function parseCorrectionParams(c: Correction, options: Record<string, unknown> | undefined): Record<string, unknown> {
  const r = c.options.safeParse(options ?? {});
  if (r.success) return r.data;
  const msg = r.error.issues.map((i) => `${i.path.join('.') || '(options)'}: ${i.message}`).join('; ');
  throw new UserError(`Invalid option(s) for the ${c.name} correction: ${msg}. Known options: ${optionNames(c).join(', ') || '(none)'}.`);
}

/** The option names a correction's schema declares (for messages and help). */
export function optionNames(c: Correction): string[] {
  const shape = (c.options as unknown as { shape?: Record<string, unknown> }).shape;
  return shape ? Object.keys(shape) : [];
}
