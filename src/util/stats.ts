/**
 * Small statistics helpers shared by the metrics: quantiles, medians, multiple-testing correction,
 * binomial confidence intervals, rank correlation.
 */

/** The q-quantile of `v` with linear interpolation (numpy / pandas default). NaN for empty input. */
export function quantile(v: ArrayLike<number>, q: number): number {
  const s = Float64Array.from(v).sort();
  return quantileSorted(s, q);
}

/** {@link quantile} on already sorted values. */
export function quantileSorted(s: ArrayLike<number>, q: number): number {
  const m = s.length;
  if (m === 0) return NaN;
  const h = (m - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, m - 1);
  return s[lo] + (h - lo) * (s[hi] - s[lo]);
}

/** Median (mean of the two middle values for an even count). */
export function median(v: ArrayLike<number>): number {
  return quantile(v, 0.5);
}

/** Arithmetic mean; NaN for empty input. */
export function mean(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i];
  return v.length ? s / v.length : NaN;
}

/**
 * Benjamini-Hochberg adjusted p-values (statsmodels `multipletests(method="fdr_bh")`):
 * p_(i) * m / i, made monotone from the largest down, clipped at 1.
 */
export function adjustBenjaminiHochberg(p: ArrayLike<number>): Float64Array {
  const m = p.length;
  const order = Array.from({ length: m }, (_, i) => i).sort((a, b) => p[a] - p[b]);
  const out = new Float64Array(m);
  let running = Infinity;
  for (let r = m - 1; r >= 0; r--) {
    const i = order[r];
    running = Math.min(running, (p[i] * m) / (r + 1));
    out[i] = Math.min(1, running);
  }
  return out;
}

/** Wilson score 95 % interval for `k` successes out of `n`. */
export function wilsonInterval(k: number, n: number, z = 1.959964): [number, number] {
  if (n === 0) return [NaN, NaN];
  const p = k / n;
  const den = 1 + (z * z) / n;
  const c = (p + (z * z) / (2 * n)) / den;
  const h = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / den;
  return [c - h, c + h];
}

/** Pearson correlation of two equal-length vectors; NaN when either is constant or shorter than 2. */
export function pearsonCorrelation(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  if (y.length !== n) throw new Error(`pearsonCorrelation: lengths differ (${n}, ${y.length})`);
  if (n < 2) return NaN;
  const mx = mean(x), my = mean(y);
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
    syy += (y[i] - my) ** 2;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : NaN;
}

/** Spearman rank correlation (scipy.stats.spearmanr): Pearson over average ranks, ties sharing their mean rank. */
export function spearmanCorrelation(x: ArrayLike<number>, y: ArrayLike<number>): number {
  return pearsonCorrelation(rankAverage(x), rankAverage(y));
}

/** Average ranks (1-based, ties share their mean rank) of `v`, as scipy.stats.rankdata. */
export function rankAverage(v: ArrayLike<number>): Float64Array {
  const m = v.length;
  const order = Array.from({ length: m }, (_, i) => i).sort((a, b) => v[a] - v[b]);
  const r = new Float64Array(m);
  for (let i = 0; i < m; ) {
    let j = i;
    while (j + 1 < m && v[order[j + 1]] === v[order[i]]) j++;
    const avg = (i + j) / 2 + 1;
    for (let t = i; t <= j; t++) r[order[t]] = avg;
    i = j + 1;
  }
  return r;
}

/** Sample standard deviation (n - 1 in the denominator); 0 for fewer than two values. */
export function sampleSd(v: ArrayLike<number>): number {
  const n = v.length;
  if (n < 2) return 0;
  const m = mean(v);
  let s = 0;
  for (let i = 0; i < n; i++) s += (v[i] - m) ** 2;
  return Math.sqrt(s / (n - 1));
}

/** Two-sided 97.5 % quantiles of Student's t for 1..30 degrees of freedom (scipy.stats.t.ppf(0.975, df)). */
const T975 = [
  12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004, 2.262157, 2.228139, 2.200985, 2.178813, 2.160369, 2.144787, 2.13145, 2.119905,
  2.109816, 2.100922, 2.093024, 2.085963, 2.079614, 2.073873, 2.068658, 2.063899, 2.059539, 2.055529, 2.051831, 2.048407, 2.04523, 2.042272,
];

/** t_{0.975, df}: the multiplier of a 95 % confidence interval of a mean from df + 1 values (normal beyond 30). */
export function tQuantile975(df: number): number {
  if (!(Number.isInteger(df) && df >= 1)) throw new Error(`tQuantile975: degrees of freedom must be a positive integer, got ${df}`);
  return df <= 30 ? T975[df - 1] : 1.959964;
}

/** Mean of paired differences `a[i] - b[i]` with its 95 % t interval (NaN bounds for fewer than two pairs). */
export function pairedDifference(a: ArrayLike<number>, b: ArrayLike<number>): { mean: number; sd: number; lo: number; hi: number; n: number } {
  if (a.length !== b.length) throw new Error(`pairedDifference: ${a.length} and ${b.length} values are not pairs`);
  const d = Array.from(a, (x, i) => x - b[i]);
  const m = mean(d);
  const s = sampleSd(d);
  const half = d.length >= 2 ? (tQuantile975(d.length - 1) * s) / Math.sqrt(d.length) : NaN;
  return { mean: m, sd: s, lo: m - half, hi: m + half, n: d.length };
}
