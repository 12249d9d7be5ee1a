/**
 * Principal components of a profile table (the input of Harmony): features centred (not scaled),
 * scores of the top components from the eigen-decomposition of the covariance [d, d] or of the
 * Gram matrix [n, n], whichever is smaller. Signs as scikit-learn's `svd_flip`: each component's
 * largest score in absolute value is positive.
 */
import { symmetricEigen } from '../util/linalg.ts';

/** What {@link principalComponents} returns. */
export interface PcaResult {
  /** Scores, row-major [n, k]. */
  scores: Float64Array;
  k: number;
  /** Variance (ddof 1) of each kept component. */
  variances: Float64Array;
  /** Share of the total variance the k components keep. */
  explained: number;
}

/** The top `k` principal-component scores of `x` ([n, d], row-major, float64). */
export function principalComponents(x: ArrayLike<number>, n: number, d: number, k: number): PcaResult {
  if (!(k >= 1 && k <= Math.min(n, d))) throw new Error(`principalComponents: k = ${k} outside 1..min(n, d) = ${Math.min(n, d)}`);
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += x[i * d + j] / n;
  const c = new Float64Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) c[i * d + j] = x[i * d + j] - mean[j];
  let total = 0;
  for (let i = 0; i < n * d; i++) total += c[i] * c[i];
  const scores = new Float64Array(n * k);
  const variances = new Float64Array(k);
  if (d <= n) {
    // Covariance route: scores = C V.
    const cov = new Float64Array(d * d);
    for (let i = 0; i < n; i++)
      for (let a = 0; a < d; a++) {
        const ca = c[i * d + a];
        if (ca === 0) continue;
        for (let b = a; b < d; b++) cov[a * d + b] += ca * c[i * d + b];
      }
    for (let a = 0; a < d; a++) for (let b = a; b < d; b++) cov[b * d + a] = cov[a * d + b];
    const { values, vectors } = symmetricEigen(cov, d);
    for (let i = 0; i < n; i++)
      for (let q = 0; q < k; q++) {
        let s = 0;
        for (let j = 0; j < d; j++) s += c[i * d + j] * vectors[j * d + q];
        scores[i * k + q] = s;
      }
    for (let q = 0; q < k; q++) variances[q] = Math.max(values[q], 0) / (n - 1);
  } else {
    // Gram route: C C^T = U S^2 U^T, scores = U S.
    const g = new Float64Array(n * n);
    for (let a = 0; a < n; a++)
      for (let b = a; b < n; b++) {
        let s = 0;
        for (let j = 0; j < d; j++) s += c[a * d + j] * c[b * d + j];
        g[a * n + b] = s;
        g[b * n + a] = s;
      }
    const { values, vectors } = symmetricEigen(g, n);
    for (let q = 0; q < k; q++) {
      const sv = Math.sqrt(Math.max(values[q], 0));
      for (let i = 0; i < n; i++) scores[i * k + q] = vectors[i * n + q] * sv;
      variances[q] = Math.max(values[q], 0) / (n - 1);
    }
  }
  for (let q = 0; q < k; q++) {
    let best = 0;
    for (let i = 0; i < n; i++) if (Math.abs(scores[i * k + q]) > Math.abs(best)) best = scores[i * k + q];
    if (best < 0) for (let i = 0; i < n; i++) scores[i * k + q] = -scores[i * k + q];
  }
  let kept = 0;
  for (let q = 0; q < k; q++) kept += variances[q] * (n - 1);
  return { scores, k, variances, explained: total > 0 ? kept / total : NaN };
}
