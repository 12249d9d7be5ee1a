/**
 * Exact k-nearest-neighbour search of the evaluation: unit rows, and the search itself, which the
 * engine runs on its fastest exact kernel (engine/knn/: native sgemm + selection when the native
 * engine is built, else the int16-screened wasm kernel for large tables, the float64 JS kernel for
 * small ones).
 */
export { emptyNeighbors, mergeTopK, searchNearestJs, type ExclusionCodes, type Neighbors, type SearchOptions } from '../engine/knn/exact.ts';
export { searchTopKInnerProduct as searchNearest } from '../engine/knn/index.ts';

/** Unit rows (float32) of a row-major [n, d] matrix; `center` subtracts each row's mean first (Pearson). */
export function unitRows(x: Float32Array, d: number, center = false): Float32Array {
  const n = x.length / d;
  const out = new Float32Array(x.length);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    let m = 0;
    if (center) {
      for (let j = 0; j < d; j++) m += x[o + j];
      m /= d;
    }
    let ss = 0;
    for (let j = 0; j < d; j++) ss += (x[o + j] - m) ** 2;
    const inv = ss > 0 ? 1 / Math.sqrt(ss) : 0;
    for (let j = 0; j < d; j++) out[o + j] = (x[o + j] - m) * inv;
  }
  return out;
}
