/**
 * Control separation as an assay scientist reads it: the Z'-factor (Zhang, Chung & Oldenburg,
 * J Biomol Screen 1999) of positive against negative control wells,
 *   Z' = 1 - 3 (sd_pos + sd_neg) / |mean_pos - mean_neg|   (sample SDs),
 * on a 1-D projection of the profiles fitted with leave-wells-out cross-validation: every control
 * well is scored by a projection fitted on the OTHER control wells (folds of wells, default one
 * well per fold), so no well is scored by a model that saw it. Per fold the features are
 * standardised on the fold's training wells, the direction is shrinkage LDA (the pooled
 * within-class correlation matrix shrunk toward the identity with the Ledoit-Wolf 2004 intensity,
 * in the manner of scikit-learn's `LinearDiscriminantAnalysis(solver='lsqr', shrinkage='auto')`,
 * which shrinks each class's) or the difference of class means, and the projection is calibrated
 * so the fold's training negatives average 0 and
 * its positives 1: folds then share one scale, and 1 is "as far as a positive control".
 */
import { solveCholesky } from '../util/linalg.ts';
import { metaColumn, type ProfileTable } from '../tables/profile-table.ts';
import { defineMetric, type RowFilter } from './metric.ts';
import { Rng } from '../util/rng.ts';
import { UserError } from '../util/errors.ts';

/** Z'-factor of two samples (sample SDs); NaN when either has fewer than 2 values. */
export function zPrimeFactor(pos: ArrayLike<number>, neg: ArrayLike<number>): number {
  const ms = (v: ArrayLike<number>) => {
    let s = 0;
    for (let i = 0; i < v.length; i++) s += v[i];
    const m = s / v.length;
    let ss = 0;
    for (let i = 0; i < v.length; i++) ss += (v[i] - m) ** 2;
    return { m, sd: Math.sqrt(ss / (v.length - 1)) };
  };
  if (pos.length < 2 || neg.length < 2) return NaN;
  const p = ms(pos), n = ms(neg);
  return 1 - (3 * (p.sd + n.sd)) / Math.abs(p.m - n.m);
}

/** How the 1-D direction is fitted: shrinkage LDA or the difference of the class means. */
export const PROJECTION_METHODS = ['lda', 'mean-difference'] as const;
export type ProjectionMethod = (typeof PROJECTION_METHODS)[number];

/** A fitted projection: standardise, dot with `w`, calibrate (negatives 0, positives 1). */
export interface ControlProjection {
  center: Float64Array;
  scale: Float64Array;
  w: Float64Array;
  negCenter: number;
  posCenter: number;
  /** Ledoit-Wolf shrinkage intensity used (lda), 1 for mean-difference. */
  shrinkage: number;
}

/**
 * Ledoit-Wolf shrinkage of the covariance of centred rows `x` [n, d] (scikit-learn's
 * `ledoit_wolf_shrinkage` with `assume_centered=True`): the estimate (1 - s) S + s mu I, with
 * S = x^T x / n and mu = tr(S) / d. Returns the shrunk covariance and s.
 */
export function ledoitWolfCovariance(x: Float64Array, n: number, d: number): { cov: Float64Array; shrinkage: number } {
  const s = new Float64Array(d * d);
  const s2 = new Float64Array(d * d); // (x^2)^T (x^2)
  for (let r = 0; r < n; r++) {
    const o = r * d;
    for (let i = 0; i < d; i++) {
      const xi = x[o + i];
      if (xi === 0) continue;
      for (let j = 0; j < d; j++) {
        s[i * d + j] += xi * x[o + j];
        s2[i * d + j] += xi * xi * x[o + j] * x[o + j];
      }
    }
  }
  let trace = 0;
  for (let i = 0; i < d; i++) trace += s[i * d + i] / n;
  const mu = trace / d;
  let beta_ = 0, delta_ = 0;
  for (let k = 0; k < d * d; k++) {
    beta_ += s2[k];
    delta_ += s[k] * s[k];
  }
  delta_ /= n * n;
  let beta = (beta_ / n - delta_) / (d * n);
  const delta = (delta_ - 2 * mu * trace + d * mu * mu) / d;
  beta = Math.min(beta, delta);
  const shrinkage = beta === 0 || !(delta > 0) ? 0 : beta / delta;
  const cov = new Float64Array(d * d);
  for (let k = 0; k < d * d; k++) cov[k] = (1 - shrinkage) * (s[k] / n);
  for (let i = 0; i < d; i++) cov[i * d + i] += shrinkage * mu;
  return { cov, shrinkage };
}

/**
 * The shrunk pooled within-class covariance of standardised rows `z` [n, d]: each row minus its
 * class mean, every feature scaled to unit within-class SD, Ledoit-Wolf on that (the correlation
 * matrix shrunk toward the identity), scaled back; so the shrinkage target respects each
 * feature's own within-class spread, as scikit-learn's `_cov(shrinkage='auto')` does per class.
 */
export function pooledWithinCovariance(z: Float64Array, n: number, d: number, positive: readonly boolean[], mPos: Float64Array, mNeg: Float64Array): { cov: Float64Array; shrinkage: number } {
  const within = new Float64Array(n * d);
  const sd = new Float64Array(d);
  for (let k = 0; k < n; k++) {
    const m = positive[k] ? mPos : mNeg;
    for (let j = 0; j < d; j++) {
      within[k * d + j] = z[k * d + j] - m[j];
      sd[j] += within[k * d + j] ** 2 / n;
    }
  }
  for (let j = 0; j < d; j++) sd[j] = sd[j] > 1e-24 ? Math.sqrt(sd[j]) : 1;
  for (let k = 0; k < n; k++) for (let j = 0; j < d; j++) within[k * d + j] /= sd[j];
  const lw = ledoitWolfCovariance(within, n, d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) lw.cov[i * d + j] *= sd[i] * sd[j];
  return lw;
}

/**
 * Fits the projection on rows `rows` of the row-major features `x` [*, d], `positive[k]` saying
 * whether `rows[k]` is a positive control. Needs 2+ wells of each class.
 */
export function fitControlProjection(x: ArrayLike<number>, d: number, rows: readonly number[], positive: readonly boolean[], method: ProjectionMethod = 'lda'): ControlProjection {
  const n = rows.length;
  const nPos = positive.filter(Boolean).length;
  if (nPos < 2 || n - nPos < 2) throw new UserError(`Z': the projection needs 2 or more positive and negative control wells to fit on; got ${nPos} and ${n - nPos}.`);
  const center = new Float64Array(d), scale = new Float64Array(d);
  for (const r of rows) for (let j = 0; j < d; j++) center[j] += x[r * d + j] / n;
  for (const r of rows) for (let j = 0; j < d; j++) scale[j] += (x[r * d + j] - center[j]) ** 2 / n;
  for (let j = 0; j < d; j++) scale[j] = scale[j] > 1e-24 ? Math.sqrt(scale[j]) : 1;
  const z = new Float64Array(n * d);
  rows.forEach((r, k) => {
    for (let j = 0; j < d; j++) z[k * d + j] = (x[r * d + j] - center[j]) / scale[j];
  });
  const mPos = new Float64Array(d), mNeg = new Float64Array(d);
  for (let k = 0; k < n; k++) {
    const m = positive[k] ? mPos : mNeg;
    const c = positive[k] ? nPos : n - nPos;
    for (let j = 0; j < d; j++) m[j] += z[k * d + j] / c;
  }
  const diff = Float64Array.from(mPos, (v, j) => v - mNeg[j]);
  let w: Float64Array = diff;
  let shrinkage = 1;
  if (method === 'lda') {
    const lw = pooledWithinCovariance(z, n, d, positive, mPos, mNeg);
    shrinkage = lw.shrinkage;
    // A tiny ridge keeps a rank-deficient estimate (no shrinkage, n < d) solvable.
    let tr = 0;
    for (let i = 0; i < d; i++) tr += lw.cov[i * d + i];
    for (let i = 0; i < d; i++) lw.cov[i * d + i] += 1e-9 * (tr / d || 1);
    w = solveCholesky(lw.cov, d, diff);
  } else if (method !== 'mean-difference') {
    throw new UserError(`Unknown projection "${method as string}"; use ${PROJECTION_METHODS.join(' or ')}.`);
  }
  const dot = (k: number) => {
    let s = 0;
    for (let j = 0; j < d; j++) s += w[j] * z[k * d + j];
    return s;
  };
  let negCenter = 0, posCenter = 0;
  for (let k = 0; k < n; k++) {
    if (positive[k]) posCenter += dot(k) / nPos;
    else negCenter += dot(k) / (n - nPos);
  }
  return { center, scale, w, negCenter, posCenter, shrinkage };
}

/** The calibrated score of row `i` of `x` under `p` (training negatives 0, positives 1). */
export function projectRow(p: ControlProjection, x: ArrayLike<number>, d: number, i: number): number {
  let s = 0;
  for (let j = 0; j < d; j++) s += p.w[j] * ((x[i * d + j] - p.center[j]) / p.scale[j]);
  return (s - p.negCenter) / (p.posCenter - p.negCenter);
}

/** Options of {@link crossValidatedZPrime}. */
export interface ZPrimeOptions {
  positive: RowFilter;
  negative: RowFilter;
  method?: ProjectionMethod;
  /** Folds of control wells (stratified, seeded); default (or >= the wells): one well per fold. */
  folds?: number;
  seed?: number;
}

/** What {@link crossValidatedZPrime} returns. */
export interface ZPrimeResult {
  zPrime: number;
  method: ProjectionMethod;
  folds: number;
  /** Held-out scores of the control wells, in table order. */
  scores: { index: number; positive: boolean; score: number }[];
  pos: { mean: number; sd: number; n: number };
  neg: { mean: number; sd: number; n: number };
  /** Mean Ledoit-Wolf shrinkage over folds (lda). */
  shrinkage: number;
}

/** Fold of each of `n` items, `k` folds, each class spread evenly over the folds (seeded). */
export function stratifiedFolds(positive: readonly boolean[], k: number, seed: number): Int32Array {
  const fold = new Int32Array(positive.length);
  const rng = new Rng(seed);
  let next = 0;
  for (const cls of [true, false]) {
    const idx = positive.map((p, i) => (p === cls ? i : -1)).filter((i) => i >= 0);
    rng.shuffle(idx);
    for (const i of idx) fold[i] = next++ % k;
  }
  return fold;
}

/** Z' of the control wells of `t` on the leave-wells-out projection; see the module comment. */
export function crossValidatedZPrime(t: ProfileTable, o: ZPrimeOptions): ZPrimeResult {
  const pc = metaColumn(t, o.positive.column);
  const nc = metaColumn(t, o.negative.column);
  const rows: number[] = [];
  const positive: boolean[] = [];
  for (let i = 0; i < t.n; i++) {
    const p = pc[i] === o.positive.value;
    if (p || nc[i] === o.negative.value) {
      rows.push(i);
      positive.push(p);
    }
  }
  const method = o.method ?? 'lda';
  const n = rows.length;
  const k = Math.min(o.folds ?? n, n);
  const fold = k >= n ? Int32Array.from(rows, (_, a) => a) : stratifiedFolds(positive, k, o.seed ?? 0);
  const score = new Float64Array(n);
  let shrink = 0;
  for (let f = 0; f < k; f++) {
    const trainAt = rows.map((_, a) => a).filter((a) => fold[a] !== f);
    const p = fitControlProjection(t.features, t.d, trainAt.map((a) => rows[a]), trainAt.map((a) => positive[a]), method);
    shrink += p.shrinkage / k;
    for (let a = 0; a < n; a++) if (fold[a] === f) score[a] = projectRow(p, t.features, t.d, rows[a]);
  }
  const pos = Array.from(score).filter((_, a) => positive[a]);
  const neg = Array.from(score).filter((_, a) => !positive[a]);
  const summary = (v: number[]) => {
    const m = v.reduce((s, x) => s + x, 0) / v.length;
    return { mean: m, sd: Math.sqrt(v.reduce((s, x) => s + (x - m) ** 2, 0) / (v.length - 1)), n: v.length };
  };
  return {
    zPrime: zPrimeFactor(pos, neg),
    method,
    folds: k,
    scores: rows.map((index, a) => ({ index, positive: positive[a], score: score[a] })),
    pos: summary(pos),
    neg: summary(neg),
    shrinkage: shrink,
  };
}

/** The registered `z-prime` metric (metrics.ts): {@link crossValidatedZPrime} on the named controls. */
export const zPrimeMetric = defineMetric({
  name: 'z-prime',
  description: "Z'-factor of positive vs negative control wells on a leave-one-well-out shrinkage-LDA projection",
  needs: { columns: ['control', 'positiveControl'] },
  async compute(ctx) {
    const r = crossValidatedZPrime(ctx.table, { positive: ctx.columns.positiveControl!, negative: ctx.columns.control!, seed: ctx.seed });
    return {
      summary: { z_prime: r.zPrime, projection: r.method, folds: r.folds, positive_wells: r.pos.n, negative_wells: r.neg.n, positive_mean: r.pos.mean, positive_sd: r.pos.sd, negative_mean: r.neg.mean, negative_sd: r.neg.sd, shrinkage: r.shrinkage },
      tables: { per_well: r.scores.map((s) => ({ ...Object.fromEntries(Object.entries(ctx.table.meta).map(([k, v]) => [k, v[s.index]])), positive_control: s.positive, score: s.score })) },
    };
  },
});
