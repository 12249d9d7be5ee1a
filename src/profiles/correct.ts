/**
 * Post-hoc corrections of profiles, fitted per plate (or per batch) on the negative-control wells
 * or on all wells: the one implementation behind `ben profiles` and `ben evaluate --normalize`.
 * - `standardize`: pycytominer `normalize(method="standardize")`, i.e. scikit-learn's
 *   StandardScaler: (x - mean) / sd with the population sd (ddof 0); a zero sd scales by 1.
 * - `mad_robustize`: pycytominer `normalize(method="mad_robustize")`:
 *   (x - median) / (1.4826 * MAD + epsilon), epsilon 1e-18 by default, so a feature whose MAD is
 *   zero on a plate is not rescued (pycytominer leaves that to feature selection).
 * - `tvn`: typical variation normalization (Ando et al. 2017) as EFAAR (Celik et al. 2024,
 *   `tvn_on_controls`) runs it: centre-scale each group on its fit rows, PCA whitening fitted on
 *   all fit rows pooled (identity covariance on the controls), then per batch the CORAL-style
 *   alignment x <- x (C_b + 0.5 I)^(-1/2), C_b the batch's control covariance.
 */
import type { ProfileTable } from '../tables/profile-table.ts';
import { groupCodes, metaColumn, metaName } from '../tables/profile-table.ts';
import { symmetricEigen } from '../util/linalg.ts';
import { median } from '../util/stats.ts';
import { UserError } from '../util/errors.ts';

/** Which rows are negative controls (e.g. `Metadata_Compound == DMSO`). */
export interface ControlSpec {
  column: string;
  value: string;
}

/** The correction methods. */
export const CORRECTION_METHODS = ['standardize', 'mad_robustize', 'tvn'] as const;
/** A correction method (see the module comment). */
export type CorrectionMethod = (typeof CORRECTION_METHODS)[number];

/** Options of {@link correctProfiles}. */
export interface CorrectionOptions {
  method: CorrectionMethod;
  /** Columns whose tuple defines a group fitted on its own (the plate, e.g. `[Experiment, Plate]`); `[]` = one group. */
  groupBy: string[];
  /** Rows the statistics are fitted on: `controls` (default) or `all` (pycytominer `samples="all"`). */
  fitOn?: 'controls' | 'all';
  /** Negative controls; required when fitting on controls. */
  controls?: ControlSpec;
  /** TVN only: columns of the batches whose control covariances are aligned (default `groupBy`). */
  batch?: string[];
  /** mad_robustize: added to the scale (pycytominer default 1e-18). */
  epsilon?: number;
  /** TVN: principal components with eigenvalue below `eigenFloor * largest` are dropped. Default 1e-6. */
  eigenFloor?: number;
}

/** What {@link correctProfiles} did, as recorded in a profile file's metadata. */
export interface CorrectionStep {
  step: 'correct';
  method: CorrectionMethod;
  groupBy: string[];
  fitOn: 'controls' | 'all';
  controls?: ControlSpec;
  groups: number;
  fitRows: number;
  /** standardize / mad_robustize: (group, feature) pairs whose fitted scale was zero. */
  zeroScale?: number;
  epsilon?: number;
  /** TVN: batches aligned and whitened components kept. */
  batch?: string[];
  batches?: number;
  components?: number;
}

/** Result of {@link correctProfiles}. */
export interface CorrectionResult {
  table: ProfileTable;
  step: CorrectionStep;
}

/** Whether each row is a fit row; throws a UserError naming the column when no control is found. */
export function fitRowMask(t: ProfileTable, fitOn: 'controls' | 'all', controls: ControlSpec | undefined): boolean[] {
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
function groupsOf(t: ProfileTable, columns: string[]): { label: string; rows: number[] }[] {
  if (columns.length === 0) return [{ label: '(all rows)', rows: Array.from({ length: t.n }, (_, i) => i) }];
  const { codes, keys } = groupCodes(t, columns);
  const out = keys.map((k) => ({ label: k.join('/'), rows: [] as number[] }));
  for (let i = 0; i < t.n; i++) out[codes[i]].rows.push(i);
  return out;
}

/** Per group and feature (x - center) / scale with the method's statistics of the group's fit rows, in float64. */
function centerScale(
  x: Float64Array,
  d: number,
  groups: { label: string; rows: number[] }[],
  fit: boolean[],
  method: 'standardize' | 'mad_robustize',
  epsilon: number,
  what: string,
): number {
  let zeroScale = 0;
  for (const g of groups) {
    const rows = g.rows.filter((i) => fit[i]);
    if (rows.length < 2) throw new UserError(`${what}: group "${g.label}" has ${rows.length} fit rows (controls); a correction per group needs at least 2. Group by a coarser column (batch) or fit on all wells.`);
    const v = new Float64Array(rows.length);
    for (let j = 0; j < d; j++) {
      for (let a = 0; a < rows.length; a++) v[a] = x[rows[a] * d + j];
      let center: number;
      let scale: number;
      if (method === 'mad_robustize') {
        center = median(v);
        const mad = 1.4826 * median(v.map((u) => Math.abs(u - center)));
        if (!(mad > 0)) zeroScale++;
        scale = mad + epsilon;
      } else {
        center = v.reduce((s, u) => s + u, 0) / v.length;
        const sd = Math.sqrt(v.reduce((s, u) => s + (u - center) ** 2, 0) / v.length);
        if (!(sd > 0)) zeroScale++;
        // scikit-learn's StandardScaler leaves a constant feature unscaled.
        scale = sd > 0 ? sd : 1;
      }
      for (const i of g.rows) x[i * d + j] = (x[i * d + j] - center) / scale;
    }
  }
  return zeroScale;
}

/** Covariance (ddof 1) of rows `rows` of the [n, d] matrix `x` about their mean. */
function covariance(x: Float64Array, d: number, rows: number[]): { mean: Float64Array; cov: Float64Array } {
  const mean = new Float64Array(d);
  for (const i of rows) for (let a = 0; a < d; a++) mean[a] += x[i * d + a] / rows.length;
  const cov = new Float64Array(d * d);
  const z = new Float64Array(d);
  for (const i of rows) {
    for (let a = 0; a < d; a++) z[a] = x[i * d + a] - mean[a];
    for (let a = 0; a < d; a++) {
      const za = z[a];
      if (za === 0) continue;
      for (let b = a; b < d; b++) cov[a * d + b] += za * z[b];
    }
  }
  for (let a = 0; a < d; a++)
    for (let b = a; b < d; b++) {
      cov[a * d + b] /= rows.length - 1;
      cov[b * d + a] = cov[a * d + b];
    }
  return { mean, cov };
}

/**
 * Corrects `t` (see the module comment). Returns a new table (input untouched) and the step record.
 * Throws a UserError when a group has fewer than 2 fit rows or a column is missing.
 */
export function correctProfiles(t: ProfileTable, opts: CorrectionOptions): CorrectionResult {
  if (!(CORRECTION_METHODS as readonly string[]).includes(opts.method)) {
    throw new UserError(`Unknown correction "${String(opts.method)}"; use ${CORRECTION_METHODS.join(', ')}.`);
  }
  const fitOn = opts.fitOn ?? 'controls';
  const groupBy = opts.groupBy.map((c) => metaName(t, c));
  const fit = fitRowMask(t, fitOn, opts.controls);
  const groups = groupsOf(t, groupBy);
  const d = t.d;
  const x = Float64Array.from(t.features);
  const epsilon = opts.epsilon ?? 1e-18;
  const step: CorrectionStep = {
    step: 'correct',
    method: opts.method,
    groupBy,
    fitOn,
    ...(fitOn === 'controls' ? { controls: opts.controls } : {}),
    groups: groups.length,
    fitRows: fit.filter(Boolean).length,
  };
  if (opts.method !== 'tvn') {
    step.zeroScale = centerScale(x, d, groups, fit, opts.method, epsilon, opts.method);
    if (opts.method === 'mad_robustize') step.epsilon = epsilon;
    return { table: { ...t, features: Float32Array.from(x) }, step };
  }

  // TVN 1: centre-scale each group on its fit rows.
  centerScale(x, d, groups, fit, 'standardize', 0, 'tvn');
  // TVN 2: PCA whitening fitted on the pooled fit rows.
  const fitRows = fit.flatMap((f, i) => (f ? [i] : []));
  const { mean, cov } = covariance(x, d, fitRows);
  const { values, vectors } = symmetricEigen(cov, d);
  const floor = opts.eigenFloor ?? 1e-6;
  const keep = [...values.keys()].filter((c) => values[c] > floor * values[0]);
  const m = keep.length;
  const w = new Float64Array(t.n * m);
  for (let i = 0; i < t.n; i++) {
    for (let c = 0; c < m; c++) {
      const col = keep[c];
      let s = 0;
      for (let j = 0; j < d; j++) s += (x[i * d + j] - mean[j]) * vectors[j * d + col];
      w[i * m + c] = s / Math.sqrt(values[col]);
    }
  }
  // TVN 3: per batch, x <- x (C_b + 0.5 I)^(-1/2) with C_b the batch's control covariance (EFAAR's regulariser).
  const batchCols = (opts.batch ?? groupBy).map((c) => metaName(t, c));
  const batches = groupsOf(t, batchCols);
  const row = new Float64Array(m);
  for (const b of batches) {
    const rows = b.rows.filter((i) => fit[i]);
    if (rows.length < 2) throw new UserError(`tvn: batch "${b.label}" has ${rows.length} control rows; the covariance alignment needs at least 2.`);
    const { cov: cb } = covariance(w, m, rows);
    for (let a = 0; a < m; a++) cb[a * m + a] += 0.5;
    const e = symmetricEigen(cb, m);
    // (C_b + 0.5 I)^(-1/2) = V diag(lambda^-1/2) V^T, symmetric.
    const inv = new Float64Array(m * m);
    for (let k = 0; k < m; k++) {
      const s = 1 / Math.sqrt(e.values[k]);
      for (let a = 0; a < m; a++) {
        const va = e.vectors[a * m + k] * s;
        if (va === 0) continue;
        for (let c = 0; c < m; c++) inv[a * m + c] += va * e.vectors[c * m + k];
      }
    }
    for (const i of b.rows) {
      for (let c = 0; c < m; c++) row[c] = w[i * m + c];
      for (let c = 0; c < m; c++) {
        let s = 0;
        for (let a = 0; a < m; a++) s += row[a] * inv[a * m + c];
        w[i * m + c] = s;
      }
    }
  }
  step.batch = batchCols;
  step.batches = batches.length;
  step.components = m;
  return {
    table: { ...t, d: m, features: Float32Array.from(w), featureNames: Array.from({ length: m }, (_, c) => `tvn_${String(c).padStart(4, '0')}`) },
    step,
  };
}
