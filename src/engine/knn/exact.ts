/**
 * Exact k-nearest-neighbour search by inner product over unit rows (cosine; Pearson after centering),
 * blocked so that no [queries x references] matrix is held at once, with a partial top-k selection
 * (a per-query threshold rejects almost every score with one comparison). The float64 reference
 * kernel and the types of every search kernel; the fast kernels live with the engine (engine/knn/).
 */

/** Pairs to skip: reference j is excluded for query i when `query[i] === ref[j]` in any rule. */
export interface ExclusionCodes {
  query: Int32Array;
  ref: Int32Array;
}

/** Neighbours of each query, best first: indices and similarities, row-major [nq, k] (-1 / -Infinity pad). */
export interface Neighbors {
  k: number;
  indices: Int32Array;
  similarities: Float32Array;
}

/** Options of the search kernels. */
export interface SearchOptions {
  k: number;
  exclude?: ExclusionCodes[];
  /** Filled with the screening kernels' statistics of this call (benchmarks, tests). */
  stats?: SearchStats;
}

/** What a screening kernel (int16, native) reports about one search. */
export interface SearchStats {
  /** Queries searched again in full because their candidate list overflowed. */
  fallbacks: number;
  /** Mean candidates rescored per query. */
  meanCandidates: number;
}

/**
 * Merges one block of scores `s` ([nq, nb] row-major, references `r0 .. r0+nb`) into the running
 * top-k lists. Ties keep the lower reference index (deterministic).
 */
export function mergeTopK(
  s: ArrayLike<number>,
  nq: number,
  nb: number,
  q0: number,
  r0: number,
  k: number,
  idx: Int32Array,
  sim: Float32Array,
  exclude: ExclusionCodes[] | undefined,
): void {
  for (let i = 0; i < nq; i++) {
    const qi = q0 + i;
    const o = qi * k;
    let thr = sim[o + k - 1];
    const row = i * nb;
    for (let j = 0; j < nb; j++) {
      const v = s[row + j];
      if (!(v > thr)) continue;
      const rj = r0 + j;
      if (exclude) {
        let skip = false;
        for (const e of exclude) if (e.query[qi] === e.ref[rj]) skip = true;
        if (skip) continue;
      }
      // Insert (v, rj) into the sorted list; equal scores keep the earlier (lower) reference.
      let p = k - 1;
      while (p > 0 && sim[o + p - 1] < v) {
        sim[o + p] = sim[o + p - 1];
        idx[o + p] = idx[o + p - 1];
        p--;
      }
      sim[o + p] = v;
      idx[o + p] = rj;
      thr = sim[o + k - 1];
    }
  }
}

/** Empty neighbour lists for `nq` queries. */
export function emptyNeighbors(nq: number, k: number): Neighbors {
  return { k, indices: new Int32Array(nq * k).fill(-1), similarities: new Float32Array(nq * k).fill(-Infinity) };
}

/**
 * Plain-JS kernel (float64 accumulation): queries [nq, d] and references [nr, d], both unit rows.
 * For evaluation-sized tables and as the reference of the fast kernels.
 */
export function searchNearestJs(queries: Float32Array, refs: Float32Array, d: number, opts: SearchOptions): Neighbors {
  const nq = queries.length / d;
  const nr = refs.length / d;
  const k = opts.k;
  const out = emptyNeighbors(nq, k);
  const B = 256;
  const block = new Float64Array(B * B);
  for (let q0 = 0; q0 < nq; q0 += B) {
    const bq = Math.min(B, nq - q0);
    for (let r0 = 0; r0 < nr; r0 += B) {
      const br = Math.min(B, nr - r0);
      for (let i = 0; i < bq; i++) {
        const qo = (q0 + i) * d;
        for (let j = 0; j < br; j++) {
          const ro = (r0 + j) * d;
          let acc = 0;
          for (let t = 0; t < d; t++) acc += queries[qo + t] * refs[ro + t];
          block[i * br + j] = acc;
        }
      }
      // Scores are stored as float32, as the lists are.
      mergeTopK(Float32Array.from(block.subarray(0, bq * br)), bq, br, q0, r0, k, out.indices, out.similarities, opts.exclude);
    }
  }
  return out;
}
