import { UMAP } from 'umap-js';
import type { ProfileTable } from '../tables/profile-table.ts';
import { Rng } from '../util/rng.ts';

/** Options of {@link umapProfiles}. */
export interface UmapOptions {
  /** Neighbours of the k-NN graph (umap-learn default 15). */
  nNeighbors?: number;
  /** Minimum distance between embedded points (umap-learn default 0.1). */
  minDist?: number;
  /** Optimisation epochs (default 200, umap-learn's choice for large sets; 2.5x faster than 500). */
  nEpochs?: number;
  /** Seed of the subsample and of UMAP's own randomness: same seed, same picture. */
  seed?: number;
  /** Profiles embedded at most; larger tables are subsampled (seeded, without replacement). */
  maxPoints?: number;
}

/** A 2-D UMAP of (a subsample of) a profile table. */
export interface Umap2d {
  /** Row indices of the table that were embedded, ascending, length m. */
  rows: Int32Array;
  /** Coordinates, row-major [m, 2], aligned with `rows`. */
  xy: Float32Array;
}

/** Default number of profiles a report UMAP embeds (keeps it to seconds on 2 CPU cores). */
export const DEFAULT_UMAP_MAX_POINTS = 2000;

/**
 * Row indices to embed: all rows when n <= maxPoints, else a seeded sample without replacement,
 * sorted. Depends only on (n, maxPoints, seed), so two runs over the same images embed the same
 * images.
 */
export function sampleRows(n: number, maxPoints: number, seed: number): Int32Array {
  const all = Int32Array.from({ length: n }, (_, i) => i);
  if (n <= maxPoints) return all;
  new Rng(seed ^ 0x2545f491).shuffle(all);
  return all.subarray(0, maxPoints).sort();
}

/**
 * UMAP (McInnes et al. 2018, umap-js) of a profile table's features into 2-D. Rows are
 * L2-normalised first, so Euclidean neighbours are cosine neighbours, the similarity the
 * evaluation uses. Deterministic for a given seed: umap-js draws every random number (NN-descent,
 * initialisation, negative sampling) from the `random` function we pass.
 */
export function umapProfiles(table: ProfileTable, opts: UmapOptions = {}): Umap2d {
  const seed = opts.seed ?? 0;
  const rows = sampleRows(table.n, opts.maxPoints ?? DEFAULT_UMAP_MAX_POINTS, seed);
  const m = rows.length;
  const d = table.d;
  if (m === 0) return { rows, xy: new Float32Array(0) };
  const X: number[][] = new Array(m);
  for (let k = 0; k < m; k++) {
    const off = rows[k] * d;
    let ss = 0;
    for (let j = 0; j < d; j++) ss += table.features[off + j] ** 2;
    const inv = ss > 0 ? 1 / Math.sqrt(ss) : 0;
    const v = new Array<number>(d);
    for (let j = 0; j < d; j++) v[j] = table.features[off + j] * inv;
    X[k] = v;
  }
  const xy = new Float32Array(2 * m);
  if (m < 3) return { rows, xy }; // UMAP needs a neighbour graph; a lone point or pair sits at the origin
  const rng = new Rng(seed);
  const umap = new UMAP({
    nComponents: 2,
    nNeighbors: Math.max(2, Math.min(opts.nNeighbors ?? 15, m - 1)),
    minDist: opts.minDist ?? 0.1,
    nEpochs: opts.nEpochs ?? 200,
    random: () => rng.next(),
  });
  const Y = umap.fit(X);
  for (let k = 0; k < m; k++) {
    xy[2 * k] = Y[k][0];
    xy[2 * k + 1] = Y[k][1];
  }
  return { rows, xy };
}
