import { Registry } from '../util/registry.ts';
import { rankAverage } from '../util/stats.ts';
import { unitRows64 } from '../util/unit-rows.ts';
export { rankAverage };

/**
 * A similarity between profiles, computed for all pairs of rows of a row-major [n, d] matrix.
 * Returns a symmetric float64 [n, n] matrix (diagonal included).
 */
export type SimilarityFn = (x: Float32Array, n: number, d: number) => Float64Array;

/** Similarity functions by name (cosine, pearson, spearman, kendall), as copairs / cytominer-eval name them. */
export const similarities = new Registry<SimilarityFn>('similarity');

/** Gram matrix z z^T of a row-major [n, d] float64 matrix: [n, n]. */
export function gram(z: Float64Array, n: number, d: number): Float64Array {
  const s = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const oi = i * d;
    for (let j = i; j < n; j++) {
      const oj = j * d;
      let acc = 0;
      for (let k = 0; k < d; k++) acc += z[oi + k] * z[oj + k];
      s[i * n + j] = acc;
      s[j * n + i] = acc;
    }
  }
  return s;
}

/** Cosine similarity: x_i . x_j / (|x_i| |x_j|) (copairs' default). */
export const computeCosine: SimilarityFn = (x, n, d) => gram(unitRows64(x, d), n, d);

/** Pearson correlation between rows over features (pandas `DataFrame.corr`, cytominer-eval). */
export const computePearson: SimilarityFn = (x, n, d) => gram(unitRows64(x, d, true), n, d);

/** Spearman correlation: Pearson over per-row average ranks. */
export const computeSpearman: SimilarityFn = (x, n, d) => {
  const ranks = new Float64Array(n * d);
  for (let i = 0; i < n; i++) ranks.set(rankAverage(x.subarray(i * d, (i + 1) * d)), i * d);
  return gram(unitRows64(ranks, d, true), n, d);
};

/**
 * Kendall's tau-b between two equal-length vectors in O(d log d) (Knight 1966): sort by x (then y),
 * count discordant pairs as merge-sort swaps of y, correct for ties as scipy.stats.kendalltau.
 * `orderX` is the index order sorting `x` ascending (precomputed once per row).
 */
export function kendallTauB(x: ArrayLike<number>, y: ArrayLike<number>, orderX: Int32Array, work: Float64Array, tmp: Float64Array): number {
  const m = x.length;
  // Sequence of y in x order; within runs of tied x, sort by y so ties in x add no swaps.
  let n1 = 0; // pairs tied in x
  let n3 = 0; // pairs tied in both
  for (let i = 0; i < m; ) {
    let j = i;
    while (j + 1 < m && x[orderX[j + 1]] === x[orderX[i]]) j++;
    const len = j - i + 1;
    for (let t = i; t <= j; t++) work[t] = y[orderX[t]];
    if (len > 1) {
      n1 += (len * (len - 1)) / 2;
      const seg = Array.from(work.subarray(i, j + 1)).sort((a, b) => a - b);
      for (let t = 0; t < len; t++) work[i + t] = seg[t];
      for (let a = 0; a < len; ) {
        let b = a;
        while (b + 1 < len && seg[b + 1] === seg[a]) b++;
        const l2 = b - a + 1;
        n3 += (l2 * (l2 - 1)) / 2;
        a = b + 1;
      }
    }
    i = j + 1;
  }
  const swaps = mergeCount(work, tmp, 0, m);
  // work is now y sorted: count ties in y.
  let n2 = 0;
  for (let i = 0; i < m; ) {
    let j = i;
    while (j + 1 < m && work[j + 1] === work[i]) j++;
    const len = j - i + 1;
    n2 += (len * (len - 1)) / 2;
    i = j + 1;
  }
  const n0 = (m * (m - 1)) / 2;
  const num = n0 - n1 - n2 + n3 - 2 * swaps;
  const den = Math.sqrt((n0 - n1) * (n0 - n2));
  return den > 0 ? num / den : NaN;
}

/** Sorts a[lo, hi) ascending with a bottom-up merge sort; returns the number of inversions (strict). */
function mergeCount(a: Float64Array, tmp: Float64Array, lo: number, hi: number): number {
  let swaps = 0;
  for (let width = 1; width < hi - lo; width *= 2) {
    for (let s = lo; s < hi - width; s += 2 * width) {
      const mid = s + width;
      const end = Math.min(s + 2 * width, hi);
      let i = s;
      let j = mid;
      let k = s;
      while (i < mid && j < end) {
        if (a[j] < a[i]) {
          tmp[k++] = a[j++];
          swaps += mid - i;
        } else tmp[k++] = a[i++];
      }
      while (i < mid) tmp[k++] = a[i++];
      while (j < end) tmp[k++] = a[j++];
      for (let t = s; t < end; t++) a[t] = tmp[t];
    }
  }
  return swaps;
}

/** Kendall tau-b between rows over features (pandas `corr(method="kendall")`). */
export const computeKendall: SimilarityFn = (x, n, d) => {
  const s = new Float64Array(n * n);
  const orders: Int32Array[] = [];
  for (let i = 0; i < n; i++) {
    const row = x.subarray(i * d, (i + 1) * d);
    orders.push(Int32Array.from(Array.from({ length: d }, (_, k) => k).sort((a, b) => row[a] - row[b])));
  }
  const work = new Float64Array(d);
  const tmp = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const xi = x.subarray(i * d, (i + 1) * d);
    s[i * n + i] = 1;
    for (let j = i + 1; j < n; j++) {
      const v = kendallTauB(xi, x.subarray(j * d, (j + 1) * d), orders[i], work, tmp);
      s[i * n + j] = v;
      s[j * n + i] = v;
    }
  }
  return s;
};

similarities.register('cosine', computeCosine);
similarities.register('pearson', computePearson);
similarities.register('spearman', computeSpearman);
similarities.register('kendall', computeKendall);
