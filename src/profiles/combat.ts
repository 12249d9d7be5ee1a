/**
 * `combat`: ComBat (Johnson, Li & Rabinovic, Biostatistics 2007), the parametric empirical-Bayes
 * location and scale adjustment, as sva's `ComBat(par.prior = TRUE)` and scanpy's `pp.combat` run it:
 * 1. design = one column per batch + the protected covariates (categorical, first level dropped);
 *    B = least squares of the profiles on it; grand mean = batch coefficients weighted by batch
 *    size; pooled variance = mean squared residual (ddof 0);
 * 2. standardise: s = (x - grand mean - covariate effects) / sqrt(pooled variance);
 * 3. per batch b and feature j: gamma_hat = mean of s, delta_hat = variance of s (ddof 1); priors
 *    gamma ~ N(gamma_bar_b, tau2_b) and delta ~ InvGamma(a_b, b_b) by the method of moments over the
 *    features; posterior means by the paper's fixed-point iteration to a relative change below 1e-4;
 * 4. x* = (s - gamma*) / sqrt(delta*) * sqrt(pooled variance) + grand mean + covariate effects.
 * Features constant within a batch are left as they were (sva). `tau2` and the priors' variances use
 * ddof 1 (sva; scanpy's tau2 uses ddof 0). The convergence test divides by |old| (sva divides by
 * the signed old value, which skips features whose location estimate is negative).
 */
import { z } from 'zod';
import { groupCodes, metaName, type ProfileTable } from '../tables/profile-table.ts';
import { symmetricEigen } from '../util/linalg.ts';
import { UserError } from '../util/errors.ts';
import type { Correction, RowGroup } from './correction.ts';

/** Options of {@link combat}. */
export interface CombatOptions {
  /** Adjust the location only (sva `mean.only`): delta* = 1. */
  meanOnly?: boolean;
  /** Relative change at which the EB iteration stops (sva 1e-4). */
  tolerance?: number;
  /** Iteration cap per batch (a safeguard; sva has none). */
  maxIterations?: number;
}

/** What {@link combat} returns. */
export interface CombatResult {
  /** Adjusted profiles, row-major [n, d]. */
  x: Float64Array;
  /** Posterior location and scale per batch and feature, [B, d] (NaN for unadjusted features). */
  gammaStar: Float64Array;
  deltaStar: Float64Array;
  /** Features left unadjusted (constant within a batch). */
  unadjusted: number[];
  /** Largest number of EB iterations any batch needed, and whether every batch converged before the cap. */
  iterations: number;
  converged: boolean;
}

/** Inverse of a symmetric positive-definite [p, p] matrix; undefined when it is singular. */
function inverseSpd(m: Float64Array, p: number): Float64Array | undefined {
  const { values, vectors } = symmetricEigen(m, p);
  if (!(values[p - 1] > 1e-10 * values[0])) return undefined;
  const inv = new Float64Array(p * p);
  for (let k = 0; k < p; k++)
    for (let a = 0; a < p; a++) {
      const va = vectors[a * p + k] / values[k];
      for (let c = 0; c < p; c++) inv[a * p + c] += va * vectors[c * p + k];
    }
  return inv;
}

const variance = (v: ArrayLike<number>, ddof: number) => {
  let m = 0;
  for (let i = 0; i < v.length; i++) m += v[i];
  m /= v.length;
  let s = 0;
  for (let i = 0; i < v.length; i++) s += (v[i] - m) ** 2;
  return { mean: m, var: s / (v.length - ddof) };
};

/**
 * ComBat on `x` ([n, d], row-major) with batch `batch[i]` in 0..B-1 and covariate columns `cov`
 * ([n, c], row-major dummy or numeric columns, no intercept). Throws a UserError for a batch with
 * one profile or a covariate confounded with batch.
 */
export function combat(x: Float64Array, n: number, d: number, batch: Int32Array, nBatches: number, cov: Float64Array, c: number, opts: CombatOptions = {}, batchLabels?: string[]): CombatResult {
  const B = nBatches;
  const label = (b: number) => (batchLabels ? `"${batchLabels[b]}"` : String(b));
  const members: number[][] = Array.from({ length: B }, () => []);
  for (let i = 0; i < n; i++) members[batch[i]].push(i);
  for (let b = 0; b < B; b++) {
    if (members[b].length < 2) throw new UserError(`combat: batch ${label(b)} has ${members[b].length} profile(s); ComBat estimates a variance per batch and needs at least 2. Merge it into another batch or drop it.`);
  }
  if (B < 2) throw new UserError('combat: the table has one batch; ComBat adjusts differences between batches and needs at least 2 (name the batch columns with --batch).');
  // Features constant within any batch are left out of the model and kept as they were.
  const unadjusted: number[] = [];
  const keep: number[] = [];
  for (let j = 0; j < d; j++) {
    let constant = false;
    for (let b = 0; b < B && !constant; b++) {
      const v = members[b].map((i) => x[i * d + j]);
      constant = v.every((u) => u === v[0]);
    }
    (constant ? unadjusted : keep).push(j);
  }
  const out = Float64Array.from(x);
  const gammaStar = new Float64Array(B * d).fill(NaN);
  const deltaStar = new Float64Array(B * d).fill(NaN);
  const m = keep.length;
  if (m === 0) return { x: out, gammaStar, deltaStar, unadjusted, iterations: 0, converged: true };

  // 1. Least squares on [batch one-hot | covariates].
  const p = B + c;
  const row = (i: number, a: number) => (a < B ? (batch[i] === a ? 1 : 0) : cov[i * c + (a - B)]);
  const xtx = new Float64Array(p * p);
  for (let i = 0; i < n; i++)
    for (let a = 0; a < p; a++) {
      const ra = row(i, a);
      if (ra === 0) continue;
      for (let b2 = 0; b2 < p; b2++) xtx[a * p + b2] += ra * row(i, b2);
    }
  const inv = inverseSpd(xtx, p);
  if (!inv) throw new UserError('combat: a protected covariate is confounded with batch (the design matrix is singular): each of its levels must occur in more than one batch. Remove that covariate or choose batches that cross it.');
  const xty = new Float64Array(p * m);
  for (let i = 0; i < n; i++)
    for (let a = 0; a < p; a++) {
      const ra = row(i, a);
      if (ra === 0) continue;
      for (let k = 0; k < m; k++) xty[a * m + k] += ra * x[i * d + keep[k]];
    }
  const bHat = new Float64Array(p * m);
  for (let a = 0; a < p; a++)
    for (let a2 = 0; a2 < p; a2++) {
      const w = inv[a * p + a2];
      if (w === 0) continue;
      for (let k = 0; k < m; k++) bHat[a * m + k] += w * xty[a2 * m + k];
    }
  const grand = new Float64Array(m);
  for (let b = 0; b < B; b++) for (let k = 0; k < m; k++) grand[k] += (members[b].length / n) * bHat[b * m + k];
  const varPooled = new Float64Array(m);
  const standMean = new Float64Array(n * m);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < m; k++) {
      let fitted = bHat[batch[i] * m + k];
      let covEffect = 0;
      for (let a = B; a < p; a++) covEffect += row(i, a) * bHat[a * m + k];
      fitted += covEffect;
      varPooled[k] += (x[i * d + keep[k]] - fitted) ** 2 / n;
      standMean[i * m + k] = grand[k] + covEffect;
    }
  // 2. Standardise.
  const s = new Float64Array(n * m);
  for (let i = 0; i < n; i++) for (let k = 0; k < m; k++) s[i * m + k] = (x[i * d + keep[k]] - standMean[i * m + k]) / Math.sqrt(varPooled[k]);
  // 3. Batch estimates, priors and the EB iteration.
  const tol = opts.tolerance ?? 1e-4;
  const maxIt = opts.maxIterations ?? 10000;
  let iterations = 0;
  let converged = true;
  for (let b = 0; b < B; b++) {
    const rows = members[b];
    const nb = rows.length;
    const gHat = new Float64Array(m);
    const dHat = new Float64Array(m);
    const v = new Float64Array(nb);
    for (let k = 0; k < m; k++) {
      for (let r = 0; r < nb; r++) v[r] = s[rows[r] * m + k];
      const st = variance(v, 1);
      gHat[k] = st.mean;
      dHat[k] = st.var;
    }
    const gStats = variance(gHat, 1);
    const gBar = gStats.mean;
    const t2 = gStats.var;
    const dStats = variance(dHat, 1);
    const aPrior = (2 * dStats.var + dStats.mean ** 2) / dStats.var;
    const bPrior = (dStats.mean * dStats.var + dStats.mean ** 3) / dStats.var;
    let gOld = Float64Array.from(gHat);
    let dOld = Float64Array.from(dHat);
    let gNew = gOld;
    let dNew = dOld;
    if (opts.meanOnly) {
      gNew = gHat.map((g) => (t2 * nb * g + gBar) / (t2 * nb + 1));
      dNew = new Float64Array(m).fill(1);
    } else {
      let it = 0;
      for (;;) {
        gNew = new Float64Array(m);
        dNew = new Float64Array(m);
        let change = 0;
        for (let k = 0; k < m; k++) {
          gNew[k] = (t2 * nb * gHat[k] + dOld[k] * gBar) / (t2 * nb + dOld[k]);
          let sum2 = 0;
          for (let r = 0; r < nb; r++) sum2 += (s[rows[r] * m + k] - gNew[k]) ** 2;
          dNew[k] = (0.5 * sum2 + bPrior) / (nb / 2 + aPrior - 1);
          change = Math.max(change, Math.abs(gNew[k] - gOld[k]) / Math.abs(gOld[k]), Math.abs(dNew[k] - dOld[k]) / Math.abs(dOld[k]));
        }
        gOld = gNew;
        dOld = dNew;
        it++;
        if (!(change > tol)) break;
        if (it >= maxIt) {
          converged = false;
          break;
        }
      }
      iterations = Math.max(iterations, it);
    }
    // 4. Adjust.
    for (let k = 0; k < m; k++) {
      gammaStar[b * d + keep[k]] = gNew[k];
      deltaStar[b * d + keep[k]] = dNew[k];
      const sd = Math.sqrt(dNew[k]);
      const vp = Math.sqrt(varPooled[k]);
      for (const i of rows) out[i * d + keep[k]] = ((s[i * m + k] - gNew[k]) / sd) * vp + standMean[i * m + k];
    }
  }
  return { x: out, gammaStar, deltaStar, unadjusted, iterations, converged };
}

/** Dummy columns (first level dropped) of the categorical metadata columns `columns`, [n, c] row-major. */
export function covariateDesign(t: ProfileTable, columns: string[]): { cov: Float64Array; c: number; names: string[] } {
  const cols: Int32Array[] = [];
  const names: string[] = [];
  for (const col of columns) {
    const full = metaName(t, col);
    const { codes, keys } = groupCodes(t, [full]);
    // Treatment coding: the first level is the reference.
    for (let l = 1; l < keys.length; l++) {
      cols.push(Int32Array.from(codes, (v) => (v === l ? 1 : 0)));
      names.push(`${full}=${keys[l][0]}`);
    }
  }
  const c = cols.length;
  const cov = new Float64Array(t.n * c);
  for (let i = 0; i < t.n; i++) for (let a = 0; a < c; a++) cov[i * c + a] = cols[a][i];
  return { cov, c, names };
}

const combatOptions = z
  .object({
    /** Metadata columns whose effect is protected (kept), e.g. the treatment (sva's `mod`, scanpy's `covariates`). */
    covariates: z.union([z.string().transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean)), z.array(z.string())]).default([]),
    /** Adjust the location only (sva `mean.only`). */
    meanOnly: z.boolean().default(false),
    /** Relative change at which the empirical-Bayes iteration stops. */
    tolerance: z.number().positive().default(1e-4),
  })
  .strict();

/** ComBat over the batches (see the module comment). */
export const combatCorrection: Correction<z.infer<typeof combatOptions>> = {
  name: 'combat',
  description: 'ComBat (Johnson et al. 2007): empirical-Bayes location and scale adjustment per batch, on all profiles; covariates=COL protects a column',
  grouping: 'between-batches',
  fitOn: ['all'],
  keepsFeatures: true,
  options: combatOptions as unknown as z.ZodType<z.infer<typeof combatOptions>>,
  apply(input, o) {
    const { table, n, d, batches } = input;
    const codes = new Int32Array(n);
    batches.forEach((g: RowGroup, b) => g.rows.forEach((i) => (codes[i] = b)));
    const { cov, c } = covariateDesign(table, o.covariates);
    const r = combat(input.x, n, d, codes, batches.length, cov, c, { meanOnly: o.meanOnly, tolerance: o.tolerance }, batches.map((g) => g.label));
    const warnings = r.unadjusted.length ? [`combat: ${r.unadjusted.length} feature(s) are constant within a batch and were left as they were (as sva's ComBat does).`] : [];
    return {
      x: r.x,
      d,
      record: { batch: input.batchColumns, batches: batches.length, unadjusted: r.unadjusted.length, iterations: r.iterations, converged: r.converged },
      summary: `over ${input.batchColumns.join('+')} (${batches.length} batches)${o.covariates.length ? `, protecting ${o.covariates.join('+')}` : ''}, ${r.unadjusted.length} feature(s) unadjusted`,
      warnings,
    };
  },
};
