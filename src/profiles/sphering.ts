/**
 * `sphering`: pycytominer's `Spherize` with its `normalize` defaults (`ZCA-cor`, epsilon 1e-6,
 * centred), fitted on the negative controls, as JUMP's profiling pipelines sphere their profiles:
 * z = (x - mean) / sd with the fit rows' mean and population sd, then z <- z G diag(1 / sqrt(max(t,
 * epsilon))) G^T with (t, G) the eigen-decomposition of the fit rows' correlation matrix (the ZCA
 * whitening R^(-1/2), which keeps one column per feature). Fitted on all fit rows pooled, or per
 * plate group when one is named (`--plate`). Features constant on a group's fit rows are centred
 * only and left out of the whitening.
 * With fewer fit rows than features the correlation matrix is singular: the directions the fit
 * rows do not span get the eigenvalue floor epsilon and are scaled by up to 1 / sqrt(epsilon) =
 * 1000, which a warning says.
 */
import { z } from 'zod';
import { symmetricEigen } from '../util/linalg.ts';
import { UserError } from '../util/errors.ts';
import { fewFitRowsWarning, type Correction } from './correction.ts';

const spheringOptions = z
  .object({
    /** Floor of the correlation matrix's eigenvalues (pycytominer `spherize_epsilon`, 1e-6). */
    epsilon: z.number().positive().default(1e-6),
  })
  .strict();

/** ZCA-cor sphering (see the module comment). */
export const sphering: Correction<z.infer<typeof spheringOptions>> = {
  name: 'sphering',
  description: 'ZCA-cor sphering on the controls pooled (pycytominer Spherize, as JUMP runs it), or per plate group when --plate is given',
  grouping: 'pooled',
  fitOn: ['controls', 'all'],
  keepsFeatures: true,
  options: spheringOptions,
  apply(input, o) {
    const { x, d, groups, fit } = input;
    const warnings: string[] = [];
    const few = fewFitRowsWarning('sphering', groups, fit, d, 'a correlation matrix', `Its missing directions are scaled by up to 1 / sqrt(epsilon) = ${(1 / Math.sqrt(o.epsilon)).toFixed(0)}. Fit on more rows: pool the plates (no --plate), or fit on all wells (--normalize-on all).`);
    if (few) warnings.push(few);
    let constant = 0;
    for (const g of groups) {
      const rows = g.rows.filter((i) => fit[i]);
      if (rows.length < 2) throw new UserError(`sphering: group "${g.label}" has ${rows.length} fit rows; sphering needs at least 2.`);
      const mean = new Float64Array(d);
      const sd = new Float64Array(d);
      for (const i of rows) for (let j = 0; j < d; j++) mean[j] += x[i * d + j] / rows.length;
      for (const i of rows) for (let j = 0; j < d; j++) sd[j] += (x[i * d + j] - mean[j]) ** 2 / rows.length;
      for (let j = 0; j < d; j++) sd[j] = Math.sqrt(sd[j]);
      const live = [...sd.keys()].filter((j) => sd[j] > 0);
      constant += d - live.length;
      const m = live.length;
      // Correlation matrix of the fit rows over the live features.
      const r = new Float64Array(m * m);
      const z = new Float64Array(m);
      for (const i of rows) {
        for (let a = 0; a < m; a++) z[a] = (x[i * d + live[a]] - mean[live[a]]) / sd[live[a]];
        for (let a = 0; a < m; a++) for (let b = a; b < m; b++) r[a * m + b] += (z[a] * z[b]) / rows.length;
      }
      for (let a = 0; a < m; a++) for (let b = a; b < m; b++) r[b * m + a] = r[a * m + b];
      const { values, vectors } = symmetricEigen(r, m);
      // W = G diag(1 / sqrt(max(t, epsilon))) G^T, symmetric.
      const w = new Float64Array(m * m);
      for (let k = 0; k < m; k++) {
        const s = 1 / Math.sqrt(Math.max(values[k], o.epsilon));
        for (let a = 0; a < m; a++) {
          const va = vectors[a * m + k] * s;
          if (va === 0) continue;
          for (let b = 0; b < m; b++) w[a * m + b] += va * vectors[b * m + k];
        }
      }
      for (const i of g.rows) {
        for (let a = 0; a < m; a++) z[a] = (x[i * d + live[a]] - mean[live[a]]) / sd[live[a]];
        for (let b = 0; b < m; b++) {
          let s = 0;
          for (let a = 0; a < m; a++) s += z[a] * w[a * m + b];
          x[i * d + live[b]] = s;
        }
        for (let j = 0; j < d; j++) if (!(sd[j] > 0)) x[i * d + j] -= mean[j];
      }
    }
    if (constant) warnings.push(`sphering: ${constant} (group, feature) pair(s) are constant on their fit rows; those features are centred only.`);
    return { x, d, record: { zeroScale: constant }, summary: `ZCA-cor, ${groups.length} group(s), epsilon ${o.epsilon}${constant ? `, ${constant} constant (group, feature) pairs centred only` : ''}`, warnings };
  },
};
