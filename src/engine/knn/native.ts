/**
 * Exact top-k inner-product search on the native engine (native/knn.cc): oneDNN sgemm of query
 * blocks x reference blocks in float32, a per-query candidate list selected in C++, the candidates
 * rescored in float64 and a query whose list may have dropped one searched in full, so the result
 * equals {@link searchNearestJs}'s, ties to the lower reference index. Runs on the addon's OpenMP
 * threads; queries go in chunks so that the event loop (and a progress bar) moves between them.
 */
import { availableParallelism } from 'node:os';
import type { NativeAddon } from '../native.ts';
import { emptyNeighbors, type Neighbors, type SearchOptions } from './exact.ts';
import { createProgress } from '../../util/progress.ts';
import { engineEnvironment } from '../flags.ts';

/** Options of {@link searchNearestNative}. */
export interface NativeSearchOptions extends SearchOptions {
  /** OpenMP threads. Default: BEN_THREADS, else the number of cores. */
  threads?: number;
  /** Float32 scores kept per query before exact rescoring. Default k + 16. */
  candidates?: number;
  /** Queries per thread task / references per sgemm call. Defaults 256 / 4096. */
  blockQueries?: number;
  blockRefs?: number;
  /** Queries per addon call (the progress bar moves between calls). Default 4096. */
  chunkQueries?: number;
  progress?: boolean;
}

/** Exact top-k inner products of rows `queries` [nq, d] against `refs` [nr, d], by the addon. */
export async function searchNearestNative(addon: NativeAddon, queries: Float32Array, refs: Float32Array, d: number, opts: NativeSearchOptions): Promise<Neighbors> {
  const nq = queries.length / d;
  const nr = refs.length / d;
  const k = opts.k;
  const out = emptyNeighbors(nq, k);
  let refNormMax = 0;
  for (let j = 0; j < nr; j++) {
    let s = 0;
    for (let t = j * d; t < (j + 1) * d; t++) s += refs[t] * refs[t];
    refNormMax = Math.max(refNormMax, Math.sqrt(s));
  }
  const threads = opts.threads ?? (engineEnvironment().threads || availableParallelism());
  const params = Float64Array.of(d, k, Math.max(k, opts.candidates ?? k + 16), opts.blockQueries ?? 256, opts.blockRefs ?? 4096, threads, refNormMax);
  const exclude = opts.exclude ?? [];
  const chunk = opts.chunkQueries ?? 4096;
  const bar = createProgress({ label: 'knn', total: nq, unit: 'query', quiet: !opts.progress });
  let fallbacks = 0;
  let candidates = 0;
  for (let q0 = 0; q0 < nq; q0 += chunk) {
    const q1 = Math.min(nq, q0 + chunk);
    const [f, c] = addon.knnSearch(
      queries.subarray(q0 * d, q1 * d),
      refs,
      params,
      exclude.map((e) => e.query.subarray(q0, q1)),
      exclude.map((e) => e.ref),
      out.indices.subarray(q0 * k, q1 * k),
      out.similarities.subarray(q0 * k, q1 * k),
    );
    fallbacks += f;
    candidates += c;
    bar.tick(q1 - q0);
    if (q1 < nq) await new Promise((r) => setImmediate(r));
  }
  bar.stop();
  if (opts.stats) Object.assign(opts.stats, { fallbacks, meanCandidates: nq ? candidates / nq : 0 });
  return out;
}
