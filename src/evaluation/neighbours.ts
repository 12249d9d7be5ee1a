/**
 * Exact Euclidean k-nearest neighbours in float64, each profile's own row excluded: the
 * neighbourhoods of LISI and graph connectivity (the engine's top-k search ranks by inner product).
 * O(n^2 d); the metrics that use it cap the table size.
 */

/** Neighbours of every row: `index[i * k + r]` the r-th nearest of row i, `distance` its Euclidean distance, ascending (ties by row). */
export interface EuclideanNeighbours {
  k: number;
  index: Int32Array;
  distance: Float64Array;
}

/** The `k` nearest other rows of each row of `x` ([n, d], row-major), by Euclidean distance. */
export function euclideanNeighbours(x: ArrayLike<number>, n: number, d: number, k: number): EuclideanNeighbours {
  if (!(k >= 1 && k <= n - 1)) throw new Error(`euclideanNeighbours: k = ${k} outside 1..${n - 1}`);
  const index = new Int32Array(n * k);
  const distance = new Float64Array(n * k);
  const d2 = new Float64Array(n);
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    for (let r = 0; r < n; r++) {
      let s = 0;
      for (let j = 0; j < d; j++) {
        const v = x[i * d + j] - x[r * d + j];
        s += v * v;
      }
      d2[r] = s;
      order[r] = r;
    }
    d2[i] = Infinity;
    const sorted = Array.from(order).sort((a, b) => d2[a] - d2[b] || a - b);
    for (let r = 0; r < k; r++) {
      index[i * k + r] = sorted[r];
      distance[i * k + r] = Math.sqrt(d2[sorted[r]]);
    }
  }
  return { k, index, distance };
}
