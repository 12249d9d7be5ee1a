/**
 * Post-hoc corrections of profiles: the one entry point behind `ben profiles`, `ben evaluate
 * --normalize` and the recipe's `profiles` stage. The corrections are plug-ins ({@link Correction},
 * correction.ts), registered here in the order help and docs list them:
 * - `standardize`, `mad_robustize` (center-scale.ts): per plate group, on controls or all wells;
 * - `tvn` (tvn.ts): typical variation normalization on the controls (EFAAR);
 * - `sphering` (sphering.ts): pycytominer's ZCA-cor sphering on the controls pooled (JUMP);
 * - `combat` (combat.ts): ComBat over the batches, all profiles;
 * - `harmony` (harmony.ts): Harmony on the principal components, over the batch columns.
 */
import type { ProfileTable } from '../tables/profile-table.ts';
import { metaName, withGroupKey } from '../tables/profile-table.ts';
import { UserError } from '../util/errors.ts';
import { madRobustize, standardize } from './center-scale.ts';
import { combatCorrection } from './combat.ts';
import {
  corrections,
  fitRowMask,
  groupsOf,
  parseCorrectionParams,
  registerCorrection,
  type ControlSpec,
  type CorrectionGrouping,
  type CorrectionStep,
  type FitOn,
} from './correction.ts';
import { harmonyCorrection } from './harmony.ts';
import { sphering } from './sphering.ts';
import { tvn } from './tvn.ts';

export { fitRowMask, type ControlSpec, type CorrectionStep } from './correction.ts';

registerCorrection(standardize);
registerCorrection(madRobustize);
registerCorrection(tvn);
registerCorrection(sphering);
registerCorrection(combatCorrection);
registerCorrection(harmonyCorrection);

/** The correction names, from the registry (the recipe schema and the CLI take their choices from here). */
export const CORRECTION_METHODS = corrections.inOrder() as [string, ...string[]];
/** The corrections fitted per plate group that keep the features (standardize, mad_robustize). */
export const PER_PLATE_CORRECTIONS = CORRECTION_METHODS.filter((m) => corrections.get(m).keepsFeatures && corrections.get(m).grouping === 'per-group') as [string, ...string[]];
/** A correction name (see {@link CORRECTION_METHODS}). */
export type CorrectionMethod = string;

/** Options of {@link correctProfiles}. */
export interface CorrectionOptions {
  method: CorrectionMethod;
  /** Columns whose tuple defines a group fitted on its own (the plate, e.g. `[Experiment, Plate]`); `[]` = one group. */
  groupBy: string[];
  /** Rows the statistics are fitted on (default: the correction's own, `controls` for the per-plate ones, `all` for ComBat and Harmony). */
  fitOn?: FitOn;
  /** Negative controls; required when fitting on controls. */
  controls?: ControlSpec;
  /** Batch columns: TVN's alignment, ComBat's batches (their tuple), Harmony's covariates (each its own). Default the tuple of `groupBy`. */
  batch?: string[];
  /** The method's own options (its schema in its file: e.g. `{ theta: 2, nPcs: 30 }`, `{ covariates: ['moa'] }`). */
  params?: Record<string, unknown>;
  /** mad_robustize: shorthand for `params.epsilon` (pycytominer default 1e-18). */
  epsilon?: number;
  /** TVN: shorthand for `params.eigenFloor`. */
  eigenFloor?: number;
}

/** Result of {@link correctProfiles}. */
export interface CorrectionResult {
  table: ProfileTable;
  step: CorrectionStep;
}

/** The rows a correction fits on by default (the first it allows). */
export function defaultFitOn(method: string): FitOn {
  return corrections.get(method).fitOn[0];
}

/** How a correction uses plate groups and batches (see {@link CorrectionGrouping}). */
export function groupingOf(method: string): CorrectionGrouping {
  return corrections.get(method).grouping;
}

/** One line per correction, `name: description`, for `--help`. */
export function describeCorrections(): string {
  return CORRECTION_METHODS.map((m) => `${m}: ${corrections.get(m).description}`).join('; ');
}

/** Throws a UserError naming the first missing value of the features. */
function checkFinite(t: ProfileTable): void {
  for (let i = 0; i < t.features.length; i++) {
    if (!Number.isFinite(t.features[i])) {
      const row = Math.floor(i / t.d);
      throw new UserError(`Feature "${t.featureNames[i % t.d]}" is ${t.features[i]} in row ${row + 1}; a correction needs finite values. Drop such features on reading (the default --drop-nan) or impute them first.`);
    }
  }
}

/**
 * Corrects `t` with the registered correction `opts.method`. Returns a new table (input untouched)
 * and the step record, whose `warnings` say what will likely hurt (the caller prints them).
 * Throws a UserError for an unknown method, a missing column, a group with too few fit rows,
 * non-finite features and the method's own bad input.
 */
export function correctProfiles(t: ProfileTable, opts: CorrectionOptions): CorrectionResult {
  if (!corrections.has(opts.method)) throw new UserError(`Unknown correction "${String(opts.method)}"; use ${CORRECTION_METHODS.join(', ')}.`);
  const c = corrections.get(opts.method);
  const fitOn = opts.fitOn ?? c.fitOn[0];
  if (!c.fitOn.includes(fitOn)) {
    throw new UserError(`${c.name} is fitted on ${c.fitOn.join(' or ')} rows, not on ${fitOn}: it estimates its batch effects from every profile. Leave the fit rows at their default (--normalize-on ${c.fitOn[0]}).`);
  }
  const legacy: Record<string, unknown> = {};
  if (opts.epsilon !== undefined && c.name === 'mad_robustize') legacy.epsilon = opts.epsilon;
  if (opts.eigenFloor !== undefined && c.name === 'tvn') legacy.eigenFloor = opts.eigenFloor;
  const params = parseCorrectionParams(c, { ...legacy, ...opts.params });
  const groupBy = opts.groupBy.map((col) => metaName(t, col));
  if (c.grouping === 'per-group' && groupBy.length === 0) throw new UserError(`${c.name} is fitted per plate group: name the plate column(s) (--plate).`);
  // Without batch columns the batch is the plate group: one key column of its tuple (Harmony reads each batch column as its own covariate).
  let inputTable = t;
  let batchColumns: string[];
  if (opts.batch) batchColumns = opts.batch.map((col) => metaName(t, col));
  else if (groupBy.length > 1) {
    const k = withGroupKey(t, groupBy);
    inputTable = k.table;
    batchColumns = [k.column];
  } else batchColumns = groupBy;
  if (c.grouping === 'between-batches' && batchColumns.length === 0) throw new UserError(`${c.name} corrects between batches: name the batch column(s) (--batch, or --plate for one batch per plate).`);
  checkFinite(t);
  const fit = fitRowMask(t, fitOn, opts.controls);
  const groups = groupsOf(t, groupBy);
  const out = c.apply(
    { table: inputTable, x: Float64Array.from(t.features), n: t.n, d: t.d, groups, batches: groupsOf(inputTable, batchColumns), batchColumns, fit, fitOn },
    params,
  );
  const step: CorrectionStep = {
    step: 'correct',
    method: c.name,
    groupBy,
    fitOn,
    ...(fitOn === 'controls' ? { controls: opts.controls } : {}),
    groups: groups.length,
    fitRows: fit.filter(Boolean).length,
    ...(Object.keys(params).length ? { params } : {}),
    ...out.record,
    summary: out.summary,
    ...(out.warnings.length ? { warnings: out.warnings } : {}),
  };
  const table: ProfileTable = out.featureNames
    ? { ...t, d: out.d, features: Float32Array.from(out.x), featureNames: out.featureNames }
    : { ...t, features: Float32Array.from(out.x) };
  return { table, step };
}
