/**
 * Exact k-nearest-neighbour search of the evaluation: unit rows, and the search itself, which the
 * engine runs on its fastest exact kernel (engine/knn/: native sgemm + selection when the native
 * engine is built, else the int16-screened wasm kernel for large tables, the float64 JS kernel for
 * small ones).
 */
export { emptyNeighbors, mergeTopK, searchNearestJs, type ExclusionCodes, type Neighbors, type SearchOptions } from '../engine/knn/exact.ts';
export { searchTopKInnerProduct as searchNearest } from '../engine/knn/index.ts';

