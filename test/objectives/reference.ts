/**
 * Independent float64 references written from the papers' pseudocode, plus small helpers shared
 * by the objective tests. No tfjs here.
 */
import { Rng } from '../../src/util/rng.ts';

/** A [rows, cols] matrix of standard normals rounded to float32 (so tfjs sees the same numbers). */
export function randomMatrix(rng: Rng, rows: number, cols: number): number[][] {
  return Array.from({ length: rows }, () => Array.from({ length: cols }, () => Math.fround(rng.normal())));
}

function dot(a: number[], b: number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function cosine(a: number[], b: number[]): number {
  return dot(a, b) / (Math.sqrt(dot(a, a)) * Math.sqrt(dot(b, b)));
}

/**
 * SimCLR Algorithm 1 (Chen et al. 2020) with V views: items in the paper's image-major order
 * (image k's views adjacent), s_ij cosine, l(i,j) = -log exp(s_ij/t) / sum_{k != i} exp(s_ik/t),
 * averaged over all ordered positive pairs (i, j), i != j, same image.
 *
 * @param views views[v][b] = vector of view v of image b.
 * @param extra vectors that only join the denominators (negatives of every anchor).
 */
export function ntXentNaive(views: number[][][], temperature: number, labels?: number[], extra: number[][] = []): number {
  const V = views.length;
  const B = views[0].length;
  const items: { image: number; z: number[] }[] = [];
  for (let b = 0; b < B; b++) for (let v = 0; v < V; v++) items.push({ image: b, z: views[v][b] });
  const s = (i: number, j: number) => cosine(items[i].z, items[j].z);
  const ell = (i: number, j: number) => {
    let denom = 0;
    for (let k = 0; k < items.length; k++) {
      // With labels, other images of the anchor's label are not negatives.
      const falseNegative = labels !== undefined && items[k].image !== items[i].image && labels[items[k].image] === labels[items[i].image];
      if (k !== i && !falseNegative) denom += Math.exp(s(i, k) / temperature);
    }
    for (const e of extra) denom += Math.exp(cosine(items[i].z, e) / temperature);
    return -Math.log(Math.exp(s(i, j) / temperature) / denom);
  };
  let total = 0;
  let count = 0;
  for (let i = 0; i < items.length; i++) {
    for (let j = 0; j < items.length; j++) {
      if (i !== j && items[i].image === items[j].image) {
        total += ell(i, j);
        count++;
      }
    }
  }
  return total / count;
}

/** BYOL eq. 2 (Grill et al. 2020): mean over the batch of ||p/|p| - z/|z| ||^2 = 2 - 2 cos(p, z). */
export function byolNaive(p: number[][], z: number[][]): number {
  let total = 0;
  for (let b = 0; b < p.length; b++) {
    const pn = Math.sqrt(dot(p[b], p[b]));
    const zn = Math.sqrt(dot(z[b], z[b]));
    let sq = 0;
    for (let d = 0; d < p[b].length; d++) sq += (p[b][d] / pn - z[b][d] / zn) ** 2;
    total += sq;
  }
  return total / p.length;
}

/** BYOL's symmetrized loss: sum over ordered view pairs i != j of byolNaive(p_i, z_j). */
export function symmetricByolNaive(p: number[][][], z: number[][][]): number {
  let total = 0;
  for (let i = 0; i < p.length; i++) for (let j = 0; j < z.length; j++) if (i !== j) total += byolNaive(p[i], z[j]);
  return total;
}

/**
 * Central finite-difference gradient of `f` with respect to every entry of `xs` (float64).
 * Returns a structure shaped like `xs`.
 */
export function numericGradient(f: (xs: number[][][]) => number, xs: number[][][], h = 1e-6): number[][][] {
  return xs.map((m, a) =>
    m.map((row, r) =>
      row.map((_, c) => {
        const orig = xs[a][r][c];
        xs[a][r][c] = orig + h;
        const up = f(xs);
        xs[a][r][c] = orig - h;
        const down = f(xs);
        xs[a][r][c] = orig;
        return (up - down) / (2 * h);
      }),
    ),
  );
}

/** Largest absolute entry-wise difference between two nested arrays of equal shape. */
export function maxAbsDiff(a: number[][][], b: number[][][]): number {
  let m = 0;
  a.forEach((x, i) => x.forEach((row, r) => row.forEach((v, c) => (m = Math.max(m, Math.abs(v - b[i][r][c]))))));
  return m;
}

/** Largest absolute entry of a nested array. */
export function maxAbs(a: number[][][]): number {
  let m = 0;
  a.forEach((x) => x.forEach((row) => row.forEach((v) => (m = Math.max(m, Math.abs(v))))));
  return m;
}

/**
 * VICReg (Bardes et al. 2022, Algorithm 1) in float64 loops: invariance = mean squared difference;
 * variance = mean over dimensions of relu(1 - sqrt(unbiased var + eps)), halved over the two
 * branches; covariance = sum of squared off-diagonal unbiased covariances / D, per branch, summed.
 */
export function vicregNaive(za: number[][], zb: number[][], w: { invariance: number; variance: number; covariance: number; epsilon: number }): number {
  const n = za.length;
  const d = za[0].length;
  let inv = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) inv += (za[i][j] - zb[i][j]) ** 2;
  inv /= n * d;
  const branch = (z: number[][]) => {
    const mean = Array.from({ length: d }, (_, j) => z.reduce((s, r) => s + r[j], 0) / n);
    let v = 0;
    for (let j = 0; j < d; j++) {
      const variance = z.reduce((s, r) => s + (r[j] - mean[j]) ** 2, 0) / (n - 1);
      v += Math.max(0, 1 - Math.sqrt(variance + w.epsilon));
    }
    let c = 0;
    for (let a = 0; a < d; a++) {
      for (let b = 0; b < d; b++) {
        if (a === b) continue;
        const cov = z.reduce((s, r) => s + (r[a] - mean[a]) * (r[b] - mean[b]), 0) / (n - 1);
        c += cov * cov;
      }
    }
    return { variance: v / d, covariance: c / d };
  };
  const A = branch(za);
  const B = branch(zb);
  return w.invariance * inv + w.variance * ((A.variance + B.variance) / 2) + w.covariance * (A.covariance + B.covariance);
}
