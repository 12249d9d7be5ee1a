/**
 * Per-group centre-scale corrections, as pycytominer's `normalize`:
 * - `standardize`: scikit-learn's StandardScaler, (x - mean) / sd with the population sd (ddof 0);
 * - `mad_robustize`: (x - median) / (1.4826 * MAD + epsilon), epsilon 1e-18 by default.
 * A feature whose fitted scale is zero on a group (at or below epsilon for mad_robustize) is centred
 * only, as StandardScaler leaves a constant feature: dividing by epsilon alone would write values of
 * order 1e17. Such (group, feature) pairs are counted.
 */
import { z } from 'zod';
import { median } from '../util/stats.ts';
import { UserError } from '../util/errors.ts';
import { fewFitRowsWarning, type Correction, type CorrectionInput, type CorrectionOutput, type RowGroup } from './correction.ts';

/**
 * Per group and feature, `x <- (x - center) / scale` in place with the method's statistics of the
 * group's fit rows. Returns the number of (group, feature) pairs whose scale was zero (centred only).
 * Throws a UserError when a group has fewer than 2 fit rows.
 */
export function centerScale(x: Float64Array, d: number, groups: RowGroup[], fit: boolean[], method: 'standardize' | 'mad_robustize', epsilon: number, what: string): number {
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
        if (mad > epsilon) scale = mad + epsilon;
        else {
          zeroScale++;
          scale = 1;
        }
      } else {
        center = v.reduce((s, u) => s + u, 0) / v.length;
        const sd = Math.sqrt(v.reduce((s, u) => s + (u - center) ** 2, 0) / v.length);
        if (sd > 0) scale = sd;
        else {
          zeroScale++;
          scale = 1;
        }
      }
      for (const i of g.rows) x[i * d + j] = (x[i * d + j] - center) / scale;
    }
  }
  return zeroScale;
}

function centerScaleCorrection(method: 'standardize' | 'mad_robustize', input: CorrectionInput, epsilon: number): CorrectionOutput {
  const { x, d, groups, fit } = input;
  const zeroScale = centerScale(x, d, groups, fit, method, epsilon, method);
  const warnings: string[] = [];
  const few = fewFitRowsWarning(method, groups, fit, d, 'a centre and scale per feature', input.fitOn === 'controls' ? 'Fit on all wells (--normalize-on all) or per batch (a coarser --plate).' : 'Fit per batch (a coarser --plate).');
  if (few) warnings.push(few);
  if (zeroScale) warnings.push(`${method}: ${zeroScale} (group, feature) pair(s) have a zero scale on their fit rows; those features are centred only on those groups.`);
  return { x, d, record: { zeroScale, ...(method === 'mad_robustize' ? { epsilon } : {}) }, summary: `${zeroScale} zero-scale (group, feature) pairs (centred only)`, warnings };
}

const noOptions = z.object({}).strict();

/** pycytominer `normalize(method="standardize")`. */
export const standardize: Correction<Record<string, never>> = {
  name: 'standardize',
  description: 'per plate group: (x - mean) / sd of the fit rows (pycytominer / scikit-learn StandardScaler)',
  grouping: 'per-group',
  fitOn: ['controls', 'all'],
  keepsFeatures: true,
  options: noOptions as unknown as z.ZodType<Record<string, never>>,
  apply: (input) => centerScaleCorrection('standardize', input, 0),
};

const madOptions = z
  .object({
    /** Added to 1.4826 * MAD (pycytominer's default 1e-18). */
    epsilon: z.number().min(0).default(1e-18),
  })
  .strict();

/** pycytominer `normalize(method="mad_robustize")`. */
export const madRobustize: Correction<z.infer<typeof madOptions>> = {
  name: 'mad_robustize',
  description: 'per plate group: (x - median) / (1.4826 MAD + epsilon) of the fit rows (pycytominer)',
  grouping: 'per-group',
  fitOn: ['controls', 'all'],
  keepsFeatures: true,
  options: madOptions,
  apply: (input, o) => centerScaleCorrection('mad_robustize', input, o.epsilon),
};
