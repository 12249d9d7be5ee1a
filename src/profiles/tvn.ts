/**
 * `tvn`: typical variation normalization (Ando et al. 2017) as EFAAR (Celik et al. 2024,
 * `tvn_on_controls`) runs it: centre-scale each plate group on its fit rows, PCA whitening fitted
 * on all fit rows pooled (identity covariance on the controls), then per batch the CORAL-style
 * alignment x <- x (C_b + 0.5 I)^(-1/2), C_b the batch's control covariance. With one plate group
 * and one batch it is the sphering of JUMP / pycytominer's `Spherize` (up to the 1 / sqrt(1.5) scale).
 */
import { z } from 'zod';
import { symmetricEigen } from '../util/linalg.ts';
import { UserError } from '../util/errors.ts';
import { centerScale } from './center-scale.ts';
import { fewFitRowsWarning, type Correction } from './correction.ts';

/** Covariance (ddof 1) of rows `rows` of the [n, d] matrix `x` about their mean. */
export function covariance(x: Float64Array, d: number, rows: number[]): { mean: Float64Array; cov: Float64Array } {
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

const tvnOptions = z
  .object({
    /** Principal components with eigenvalue below `eigenFloor` x the largest are dropped. */
    eigenFloor: z.number().min(0).default(1e-6),
  })
  .strict();

/** Typical variation normalization (see the module comment). */
export const tvn: Correction<z.infer<typeof tvnOptions>> = {
  name: 'tvn',
  description: 'typical variation normalization (EFAAR): centre-scale per plate group, whiten on the pooled fit rows, align each batch\'s control covariance',
  grouping: 'per-group',
  fitOn: ['controls', 'all'],
  keepsFeatures: false,
  options: tvnOptions,
  apply(input, o) {
    const { x, d, n, groups, fit, batches } = input;
    const warnings: string[] = [];
    const fix = input.fitOn === 'controls' ? 'Fit on all wells (--normalize-on all), per batch (a coarser --plate), or use a correction that needs no controls (combat, harmony).' : 'Fit per batch (a coarser --plate).';
    const few = fewFitRowsWarning('tvn', groups, fit, d, 'a centre and scale per feature', fix);
    if (few) warnings.push(few);
    // 1: centre-scale each group on its fit rows.
    centerScale(x, d, groups, fit, 'standardize', 0, 'tvn');
    // 2: PCA whitening fitted on the pooled fit rows.
    const fitRows = fit.flatMap((f, i) => (f ? [i] : []));
    if (fitRows.length <= d) warnings.push(`tvn: the whitening is fitted on ${fitRows.length} rows for ${d} features: its covariance has rank below ${fitRows.length}, so at most ${fitRows.length - 1} directions are kept and the others dropped. ${fix}`);
    const { mean, cov } = covariance(x, d, fitRows);
    const { values, vectors } = symmetricEigen(cov, d);
    const keep = [...values.keys()].filter((c) => values[c] > o.eigenFloor * values[0]);
    const m = keep.length;
    const w = new Float64Array(n * m);
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < m; c++) {
        const col = keep[c];
        let s = 0;
        for (let j = 0; j < d; j++) s += (x[i * d + j] - mean[j]) * vectors[j * d + col];
        w[i * m + c] = s / Math.sqrt(values[col]);
      }
    }
    // 3: per batch, x <- x (C_b + 0.5 I)^(-1/2) with C_b the batch's control covariance (EFAAR's regulariser).
    const row = new Float64Array(m);
    const fewBatches = batches.filter((b) => b.rows.filter((i) => fit[i]).length < m).length;
    if (fewBatches && batches.length > 1) warnings.push(`tvn: ${fewBatches} of ${batches.length} batch(es) align a ${m}-dimensional covariance fitted on fewer fit rows than that; the 0.5 I regulariser keeps it invertible, but the alignment is noisy.`);
    for (const b of batches) {
      const rows = b.rows.filter((i) => fit[i]);
      if (rows.length < 2) throw new UserError(`tvn: batch "${b.label}" has ${rows.length} fit rows; the covariance alignment needs at least 2.`);
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
    return {
      x: w,
      d: m,
      featureNames: Array.from({ length: m }, (_, c) => `tvn_${String(c).padStart(4, '0')}`),
      record: { batch: input.batchColumns, batches: batches.length, components: m },
      summary: `${m} components, aligned per ${input.batchColumns.join('+') || '(all rows)'} (${batches.length} batches)`,
      warnings,
    };
  },
};
