/**
 * `harmony`: Harmony (Korsunsky et al., Nature Methods 2019) on the principal components of the
 * profiles, with harmonypy's defaults (theta 2, lambda 1, sigma 0.1, clusters min(round(N / 30),
 * 100), block size 0.05, 10 rounds of at most 20 clustering iterations, epsilon 1e-5 / 1e-4):
 * 1. PCA (50 components, scanpy's default, fewer when the table has fewer); each profile's PC
 *    vector L2-normalised (Z_cos);
 * 2. cluster centroids from k-means++ and 10 Lloyd iterations on Z_cos (harmonypy's `kmeans2`),
 *    seeded; soft assignments R = softmax(-2 (1 - Y Z_cos) / sigma);
 * 3. each round: soft k-means with the diversity penalty (centroids Y = normalised R Z_cos; R
 *    updated in random blocks of 5 % of the profiles, each profile's assignment multiplied by
 *    ((E + 1) / (O + 1))^theta of its batches, E the expected and O the observed batch counts per
 *    cluster), until the objective (k-means error + sigma entropy + theta cross-entropy) changes by
 *    less than 1e-5 over a window of 3 iterations; then the mixture-of-experts correction: per
 *    cluster k a ridge regression (lambda on the batch terms, none on the intercept) of the PCs on
 *    [1, batch one-hot] weighted by R_k, and Z_corr = Z - sum_k R_k (batch terms of W_k);
 * 4. rounds stop when the objective improves by less than 1e-4 of its value.
 * Several batch columns are several covariates, each with its own theta and lambda (harmonypy's
 * `vars_use`); a profile's penalty then sums its batches' terms, as harmonypy's matrix product does.
 * harmonypy divides each profile by its largest coordinate before the L2 normalisation (which can
 * flip its sign); the paper and the R package only normalise, as here.
 */
import { z } from 'zod';
import { groupCodes } from '../tables/profile-table.ts';
import { Rng } from '../util/rng.ts';
import { UserError } from '../util/errors.ts';
import { principalComponents } from './pca.ts';
import type { Correction } from './correction.ts';

/** Parameters of {@link harmonize} (harmonypy's names in comments). */
export interface HarmonyParams {
  /** Diversity penalty per batch variable (theta, default 2). */
  theta: number[];
  /** Ridge penalty per batch variable (lamb, default 1). */
  lambda: number[];
  /** Soft k-means width (sigma, default 0.1). */
  sigma: number;
  /** Clusters (nclust; default min(round(N / 30), 100)). */
  nClusters: number;
  /** Share of profiles updated per block (block_size 0.05). */
  blockSize: number;
  /** Rounds (max_iter_harmony 10) and clustering iterations per round (max_iter_kmeans 20). */
  maxIterations: number;
  maxKmeansIterations: number;
  /** Convergence of the clustering (epsilon_cluster 1e-5) and of the rounds (epsilon_harmony 1e-4). */
  epsilonCluster: number;
  epsilonHarmony: number;
  /** random_state. */
  seed: number;
}

/** What {@link harmonize} returns. */
export interface HarmonyResult {
  /** Corrected PCs, row-major [n, k]. */
  z: Float64Array;
  /** Soft assignments, [K, n]. */
  r: Float64Array;
  /** Rounds run and whether the objective converged before the cap. */
  iterations: number;
  converged: boolean;
  /** The objective after initialisation and after each round. */
  objective: number[];
  /** Clustering iterations of each round. */
  kmeansRounds: number[];
}

/** Hooks that fix Harmony's random parts (tests compare with a reference run on the same draws). */
export interface HarmonyHooks {
  /** Initial centroids [K, k] (before normalisation) instead of k-means. */
  init?: Float64Array;
  /** The order in which profiles are updated, one call per R update. */
  permutation?: (n: number) => ArrayLike<number>;
}

/** numpy's round (half to even). */
const roundHalfEven = (v: number) => {
  const f = Math.floor(v);
  const diff = v - f;
  if (diff > 0.5) return f + 1;
  if (diff < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
};

/** harmonypy's default number of clusters for `n` profiles: min(round(n / 30), 100), at least 1. */
export function defaultClusters(n: number): number {
  return Math.max(1, Math.min(roundHalfEven(n / 30), 100));
}

function normaliseRows(m: Float64Array, rows: number, cols: number): void {
  for (let i = 0; i < rows; i++) {
    let s = 0;
    for (let j = 0; j < cols; j++) s += m[i * cols + j] ** 2;
    const norm = Math.sqrt(s);
    if (norm > 0) for (let j = 0; j < cols; j++) m[i * cols + j] /= norm;
  }
}

/** k-means++ seeding then `iterations` Lloyd steps on the rows of `x` ([n, k]); returns [K, k] centroids. */
export function kmeansCentroids(x: Float64Array, n: number, k: number, K: number, rng: Rng, iterations = 10): Float64Array {
  const y = new Float64Array(K * k);
  const d2 = new Float64Array(n).fill(Infinity);
  const dist = (i: number, c: number) => {
    let s = 0;
    for (let j = 0; j < k; j++) s += (x[i * k + j] - y[c * k + j]) ** 2;
    return s;
  };
  let first = rng.int(n);
  for (let c = 0; c < K; c++) {
    if (c > 0) {
      let total = 0;
      for (let i = 0; i < n; i++) total += d2[i];
      let u = rng.next() * total;
      first = n - 1;
      for (let i = 0; i < n; i++) {
        u -= d2[i];
        if (u < 0) {
          first = i;
          break;
        }
      }
    }
    for (let j = 0; j < k; j++) y[c * k + j] = x[first * k + j];
    for (let i = 0; i < n; i++) d2[i] = Math.min(d2[i], dist(i, c));
  }
  const assign = new Int32Array(n);
  for (let it = 0; it < iterations; it++) {
    for (let i = 0; i < n; i++) {
      let best = 0;
      let bd = Infinity;
      for (let c = 0; c < K; c++) {
        const v = dist(i, c);
        if (v < bd) {
          bd = v;
          best = c;
        }
      }
      assign[i] = best;
    }
    const sum = new Float64Array(K * k);
    const count = new Int32Array(K);
    for (let i = 0; i < n; i++) {
      count[assign[i]]++;
      for (let j = 0; j < k; j++) sum[assign[i] * k + j] += x[i * k + j];
    }
    // An emptied cluster keeps its centroid.
    for (let c = 0; c < K; c++) if (count[c] > 0) for (let j = 0; j < k; j++) y[c * k + j] = sum[c * k + j] / count[c];
  }
  return y;
}

/** Cholesky solve of the SPD [p, p] system A W = B for W [p, q] (row-major). */
function solveSpd(a: Float64Array, p: number, b: Float64Array, q: number): Float64Array {
  const l = new Float64Array(p * p);
  for (let i = 0; i < p; i++)
    for (let j = 0; j <= i; j++) {
      let s = a[i * p + j];
      for (let t = 0; t < j; t++) s -= l[i * p + t] * l[j * p + t];
      if (i === j) l[i * p + i] = Math.sqrt(Math.max(s, 1e-300));
      else l[i * p + j] = s / l[j * p + j];
    }
  const w = Float64Array.from(b);
  for (let c = 0; c < q; c++) {
    for (let i = 0; i < p; i++) {
      let s = w[i * q + c];
      for (let t = 0; t < i; t++) s -= l[i * p + t] * w[t * q + c];
      w[i * q + c] = s / l[i * p + i];
    }
    for (let i = p - 1; i >= 0; i--) {
      let s = w[i * q + c];
      for (let t = i + 1; t < p; t++) s -= l[t * p + i] * w[t * q + c];
      w[i * q + c] = s / l[i * p + i];
    }
  }
  return w;
}

/**
 * Harmony's iterations on PCs `z` ([n, k], row-major). `batches[v][i]` is profile i's level of batch
 * variable v (0..levels[v]-1). See the module comment.
 */
export function harmonize(z: Float64Array, n: number, k: number, batches: Int32Array[], levels: number[], p: HarmonyParams, hooks: HarmonyHooks = {}): HarmonyResult {
  const V = batches.length;
  const offsets: number[] = [];
  let B = 0;
  for (const l of levels) {
    offsets.push(B);
    B += l;
  }
  // Global batch index of profile i for variable v.
  const phi = new Int32Array(n * V);
  for (let i = 0; i < n; i++) for (let v = 0; v < V; v++) phi[i * V + v] = offsets[v] + batches[v][i];
  const theta = new Float64Array(B);
  const lambda = new Float64Array(B);
  for (let v = 0; v < V; v++)
    for (let l = 0; l < levels[v]; l++) {
      theta[offsets[v] + l] = p.theta[v];
      lambda[offsets[v] + l] = p.lambda[v];
    }
  const prB = new Float64Array(B);
  for (let i = 0; i < n * V; i++) prB[phi[i]] += 1 / n;
  const K = p.nClusters;
  const sigma = p.sigma;
  const rng = new Rng(p.seed);
  const permute = hooks.permutation ?? ((m: number) => rng.shuffle(Int32Array.from({ length: m }, (_, i) => i)));

  const zOrig = z;
  let zCos = Float64Array.from(zOrig);
  normaliseRows(zCos, n, k);
  const y = hooks.init ? Float64Array.from(hooks.init) : kmeansCentroids(zCos, n, k, K, new Rng(p.seed));
  normaliseRows(y, K, k);
  const dist = new Float64Array(K * n);
  const computeDist = () => {
    for (let c = 0; c < K; c++)
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = 0; j < k; j++) s += y[c * k + j] * zCos[i * k + j];
        dist[c * n + i] = 2 * (1 - s);
      }
  };
  const r = new Float64Array(K * n);
  const e = new Float64Array(K * B);
  const o = new Float64Array(K * B);
  const recomputeEO = () => {
    e.fill(0);
    o.fill(0);
    for (let c = 0; c < K; c++) {
      let rs = 0;
      for (let i = 0; i < n; i++) {
        const rv = r[c * n + i];
        rs += rv;
        for (let v = 0; v < V; v++) o[c * B + phi[i * V + v]] += rv;
      }
      for (let b = 0; b < B; b++) e[c * B + b] = rs * prB[b];
    }
  };
  const objectiveKmeans: number[] = [];
  const objectiveHarmony: number[] = [];
  const computeObjective = () => {
    let kmeansError = 0;
    let entropy = 0;
    let cross = 0;
    for (let c = 0; c < K; c++)
      for (let i = 0; i < n; i++) {
        const rv = r[c * n + i];
        kmeansError += rv * dist[c * n + i];
        if (rv > 0) entropy += sigma * rv * Math.log(rv);
        let w = 0;
        for (let v = 0; v < V; v++) {
          const b = phi[i * V + v];
          w += theta[b] * Math.log((o[c * B + b] + 1) / (e[c * B + b] + 1));
        }
        cross += rv * sigma * w;
      }
    objectiveKmeans.push(kmeansError + entropy + cross);
  };

  // Initial soft assignments.
  computeDist();
  for (let i = 0; i < n; i++) {
    let mx = -Infinity;
    for (let c = 0; c < K; c++) mx = Math.max(mx, -dist[c * n + i] / sigma);
    let s = 0;
    for (let c = 0; c < K; c++) s += r[c * n + i] = Math.exp(-dist[c * n + i] / sigma - mx);
    for (let c = 0; c < K; c++) r[c * n + i] /= s;
  }
  recomputeEO();
  computeObjective();
  objectiveHarmony.push(objectiveKmeans[objectiveKmeans.length - 1]);

  const scaleDist = new Float64Array(K * n);
  const updateR = () => {
    for (let i = 0; i < n; i++) {
      let mx = -Infinity;
      for (let c = 0; c < K; c++) mx = Math.max(mx, -dist[c * n + i] / sigma);
      for (let c = 0; c < K; c++) scaleDist[c * n + i] = Math.exp(-dist[c * n + i] / sigma - mx);
    }
    const order = permute(n);
    const nBlocks = Math.ceil(1 / p.blockSize);
    // numpy.array_split: the first n % nBlocks blocks hold one more.
    const base = Math.floor(n / nBlocks);
    const extra = n % nBlocks;
    let start = 0;
    for (let blk = 0; blk < nBlocks; blk++) {
      const size = base + (blk < extra ? 1 : 0);
      const cells = Array.from({ length: size }, (_, a) => order[start + a]);
      start += size;
      if (!size) continue;
      // Remove the block's cells from E and O, recompute their R, put them back.
      for (const sign of [-1, 1]) {
        if (sign === 1) {
          for (const i of cells) {
            let s = 0;
            for (let c = 0; c < K; c++) {
              let pen = 0;
              for (let v = 0; v < V; v++) {
                const b = phi[i * V + v];
                pen += Math.pow((e[c * B + b] + 1) / (o[c * B + b] + 1), theta[b]);
              }
              s += r[c * n + i] = scaleDist[c * n + i] * pen;
            }
            for (let c = 0; c < K; c++) r[c * n + i] /= s;
          }
        }
        for (let c = 0; c < K; c++) {
          let rs = 0;
          for (const i of cells) {
            const rv = r[c * n + i];
            rs += rv;
            for (let v = 0; v < V; v++) o[c * B + phi[i * V + v]] += sign * rv;
          }
          for (let b = 0; b < B; b++) e[c * B + b] += sign * rs * prB[b];
        }
      }
    }
  };

  const windowSize = 3;
  const kmeansConverged = () => {
    const l = objectiveKmeans.length;
    let prev = 0;
    let cur = 0;
    for (let w = 0; w < windowSize; w++) {
      prev += objectiveKmeans[l - 2 - w];
      cur += objectiveKmeans[l - 1 - w];
    }
    return Math.abs(prev - cur) / Math.abs(prev) < p.epsilonCluster;
  };
  const kmeansRounds: number[] = [];
  const cluster = () => {
    let it = 0;
    for (it = 0; it < p.maxKmeansIterations; it++) {
      // Centroids: normalised R Z_cos.
      y.fill(0);
      for (let c = 0; c < K; c++)
        for (let i = 0; i < n; i++) {
          const rv = r[c * n + i];
          for (let j = 0; j < k; j++) y[c * k + j] += rv * zCos[i * k + j];
        }
      normaliseRows(y, K, k);
      computeDist();
      updateR();
      computeObjective();
      if (it > windowSize && kmeansConverged()) break;
    }
    kmeansRounds.push(Math.min(it, p.maxKmeansIterations - 1));
    objectiveHarmony.push(objectiveKmeans[objectiveKmeans.length - 1]);
  };

  let zCorr = Float64Array.from(zOrig);
  const P = B + 1;
  const moeCorrect = () => {
    zCorr = Float64Array.from(zOrig);
    for (let c = 0; c < K; c++) {
      // x = Phi_moe diag(R_k) Phi_moe^T + diag(0, lambda); rhs = Phi_moe diag(R_k) Z^T.
      const a = new Float64Array(P * P);
      const rhs = new Float64Array(P * k);
      for (let i = 0; i < n; i++) {
        const rv = r[c * n + i];
        const idx = [0];
        for (let v = 0; v < V; v++) idx.push(1 + phi[i * V + v]);
        for (const u of idx) {
          for (const w of idx) a[u * P + w] += rv;
          for (let j = 0; j < k; j++) rhs[u * k + j] += rv * zOrig[i * k + j];
        }
      }
      for (let b = 0; b < B; b++) a[(b + 1) * P + (b + 1)] += lambda[b];
      const w = solveSpd(a, P, rhs, k);
      // The intercept (row 0) is kept.
      for (let i = 0; i < n; i++) {
        const rv = r[c * n + i];
        for (let v = 0; v < V; v++) {
          const row = 1 + phi[i * V + v];
          for (let j = 0; j < k; j++) zCorr[i * k + j] -= rv * w[row * k + j];
        }
      }
    }
    zCos = Float64Array.from(zCorr);
    normaliseRows(zCos, n, k);
  };

  let converged = false;
  let iterations = 0;
  for (let it = 1; it <= p.maxIterations; it++) {
    cluster();
    moeCorrect();
    iterations = it;
    const l = objectiveHarmony.length;
    const prev = objectiveHarmony[l - 2];
    const cur = objectiveHarmony[l - 1];
    if ((prev - cur) / Math.abs(prev) < p.epsilonHarmony) {
      converged = true;
      break;
    }
  }
  return { z: zCorr, r, iterations, converged, objective: objectiveHarmony, kmeansRounds };
}

/** A number or one per batch column (`theta=2` or `theta=[2,1]`). */
const perVariable = z.union([z.number().min(0), z.array(z.number().min(0))]);

const harmonyOptions = z
  .object({
    /** Principal components corrected (default 50, scanpy's PCA default; fewer when the table has fewer). */
    nPcs: z.number().int().positive().optional(),
    /** Diversity penalty, one value or one per batch column (harmonypy theta 2). */
    theta: perVariable.default(2),
    /** Ridge penalty, one value or one per batch column (harmonypy lamb 1). */
    lambda: perVariable.default(1),
    /** Soft k-means width (harmonypy sigma 0.1). */
    sigma: z.number().positive().default(0.1),
    /** Clusters (default min(round(N / 30), 100), harmonypy's). */
    nClusters: z.number().int().positive().optional(),
    blockSize: z.number().gt(0).max(1).default(0.05),
    maxIterations: z.number().int().positive().default(10),
    maxKmeansIterations: z.number().int().positive().default(20),
    epsilonCluster: z.number().positive().default(1e-5),
    epsilonHarmony: z.number().positive().default(1e-4),
    seed: z.number().int().default(0),
  })
  .strict();

/** Harmony over the batch columns (see the module comment). */
export const harmonyCorrection: Correction<z.infer<typeof harmonyOptions>> = {
  name: 'harmony',
  description: 'Harmony (Korsunsky et al. 2019) on the principal components, over the batch columns; returns the corrected PCs (harmony_0000...)',
  grouping: 'between-batches',
  fitOn: ['all'],
  keepsFeatures: false,
  options: harmonyOptions,
  apply(input, o) {
    const { table, x, n, d, batchColumns } = input;
    const maxPcs = Math.min(d, n - 1);
    if (o.nPcs !== undefined && o.nPcs > n - 1) throw new UserError(`harmony: nPcs ${o.nPcs} is more principal components than ${n} profiles give (at most ${n - 1}); lower nPcs.`);
    if (o.nPcs !== undefined && o.nPcs > d) throw new UserError(`harmony: nPcs ${o.nPcs} is more principal components than the ${d} features; lower nPcs.`);
    const k = o.nPcs ?? Math.min(50, maxPcs);
    if (k < 1) throw new UserError(`harmony: ${n} profile(s) give no principal component; Harmony needs at least 2 profiles.`);
    const codes: Int32Array[] = [];
    const levels: number[] = [];
    for (const col of batchColumns) {
      const g = groupCodes(table, [col]);
      const sizes = new Int32Array(g.keys.length);
      for (const c of g.codes) sizes[c]++;
      const lone = [...sizes.keys()].filter((b) => sizes[b] < 2);
      if (lone.length) throw new UserError(`harmony: batch "${g.keys[lone[0]][0]}" of ${col} has ${sizes[lone[0]]} profile; each batch needs at least 2 (${lone.length} batch(es) with one). Merge it into another batch or drop it.`);
      if (g.keys.length < 2) throw new UserError(`harmony: ${col} has one batch; Harmony needs at least 2 (name the batch columns with --batch).`);
      codes.push(g.codes);
      levels.push(g.keys.length);
    }
    const per = (v: number | number[], what: string) => {
      const arr = Array.isArray(v) ? v : batchColumns.map(() => v);
      if (arr.length !== batchColumns.length) throw new UserError(`harmony: ${what} has ${arr.length} value(s) for ${batchColumns.length} batch column(s) (${batchColumns.join(', ')}); give one value or one per column.`);
      return arr;
    };
    const nClusters = o.nClusters ?? defaultClusters(n);
    if (nClusters > n) throw new UserError(`harmony: nClusters ${nClusters} is more than the ${n} profiles.`);
    const pca = principalComponents(x, n, d, k);
    const r = harmonize(pca.scores, n, k, codes, levels, {
      theta: per(o.theta, 'theta'),
      lambda: per(o.lambda, 'lambda'),
      sigma: o.sigma,
      nClusters,
      blockSize: o.blockSize,
      maxIterations: o.maxIterations,
      maxKmeansIterations: o.maxKmeansIterations,
      epsilonCluster: o.epsilonCluster,
      epsilonHarmony: o.epsilonHarmony,
      seed: o.seed,
    });
    const warnings = r.converged ? [] : [`harmony: the objective had not converged after ${r.iterations} rounds (maxIterations); raise maxIterations if the result matters.`];
    return {
      x: r.z,
      d: k,
      featureNames: Array.from({ length: k }, (_, c) => `harmony_${String(c).padStart(4, '0')}`),
      record: { batch: batchColumns, batches: levels.reduce((s, l) => s + l, 0), components: k, explainedVariance: pca.explained, iterations: r.iterations, converged: r.converged, params: { ...o, nPcs: k, nClusters } },
      summary: `${k} PCs (${(100 * pca.explained).toFixed(1)} % of the variance), ${nClusters} clusters, over ${batchColumns.join(' and ')} (${levels.join(' + ')} batches), ${r.iterations} round(s), ${r.converged ? 'converged' : 'NOT converged'}`,
      warnings,
    };
  },
};
