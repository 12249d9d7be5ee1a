/**
 * The engine's exact top-k search by inner product (the evaluation's kNN): it picks the fastest
 * exact kernel there is. All kernels return the same lists (float64 sums rounded to float32, ties to
 * the lower reference index), so the choice changes only the time taken.
 */
import { loadNative } from '../native.ts';
import { searchNearestJs, type Neighbors, type SearchOptions } from './exact.ts';

/** The exact kernels: native sgemm + selection, the int16-screened wasm kernel, the float64 JS loop. */
export type KnnKernel = 'native' | 'int16' | 'js';

/** Options of {@link searchTopKInnerProduct}. */
export interface TopKOptions extends SearchOptions {
  /** Force a kernel (benchmarks, tests); default {@link knnKernelFor}. */
  kernel?: KnnKernel;
  threads?: number;
  progress?: boolean;
}

/**
 * The kernel used for `nq x nr x d` multiply-adds: native when the native engine is built (and not
 * turned off by BEN_NATIVE=0); else the int16 wasm kernel in worker threads beyond ~1e9, where it
 * wins over plain JS.
 */
export function knnKernelFor(nq: number, nr: number, d: number): KnnKernel {
  if (loadNative()) return 'native';
  return nq * nr * d > 1e9 ? 'int16' : 'js';
}

/** Exact top-k inner products of rows `queries` [nq, d] against `refs` [nr, d] (unit rows: cosine). */
export async function searchTopKInnerProduct(queries: Float32Array, refs: Float32Array, d: number, opts: TopKOptions): Promise<Neighbors> {
  const kernel = opts.kernel ?? knnKernelFor(queries.length / d, refs.length / d, d);
  if (kernel === 'native') {
    const addon = loadNative();
    if (!addon) throw new Error('native kNN kernel requested but the native engine is not available');
    return (await import('./native.ts')).searchNearestNative(addon, queries, refs, d, opts);
  }
  if (kernel === 'int16') return (await import('./int16.ts')).searchNearestInt16(queries, refs, d, opts);
  return searchNearestJs(queries, refs, d, opts);
}
