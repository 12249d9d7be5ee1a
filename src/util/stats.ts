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
