/**
 * Exact top-k similarity search on the active tfjs backend (multi-threaded wasm + XNNPACK here, or
 * tfjs-node where installed): blocked matrix products of query blocks [bq, d] with reference blocks
 * stored transposed [d, br] (the layout XNNPACK's GEMM is fastest on), each [bq, br] score block
 * merged into running top-k lists in JS and freed. Memory: the references once plus one block.
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../engine/backend.ts';
import { emptyNeighbors, mergeTopK, type Neighbors, type SearchOptions } from './topk.ts';
import { createProgress } from '../util/progress.ts';

/** Options of {@link searchNearestTfjs}. */
export interface TfjsSearchOptions extends SearchOptions {
  /** Queries per block. Default 2048. */
  blockQueries?: number;
  /** References per block. Default 8192. */
  blockRefs?: number;
  /** Show a progress bar on stderr. */
  progress?: boolean;
}

/** The wasm backend's internals we read a result through (not public tfjs API; checked at run time). */
interface WasmBackendInternals {
  dataIdMap?: { get(id: object): { memoryOffset?: number } | undefined };
  wasm?: { HEAPU8?: Uint8Array };
}

/**
 * Copies float32 tensor `t` into `scratch` and returns the filled prefix. On the wasm backend it
 * copies straight from the wasm heap (a memcpy into a reused buffer: `dataSync` would allocate a
 * fresh array per block); elsewhere it falls back to `dataSync`.
 */
function readInto(t: tf.Tensor, scratch: Float32Array): Float32Array {
  const be = tf.backend() as unknown as WasmBackendInternals;
  const off = be.dataIdMap?.get(t.dataId)?.memoryOffset;
  const heap = be.wasm?.HEAPU8;
  if (off !== undefined && heap && t.dtype === 'float32' && t.size <= scratch.length) {
    const out = scratch.subarray(0, t.size);
    out.set(new Float32Array(heap.buffer, heap.byteOffset + off, t.size));
    return out;
  }
  return t.dataSync() as Float32Array;
}

/**
 * Top-k inner products of unit rows `queries` [nq, d] against `refs` [nr, d] (cosine, or Pearson on
 * centred rows), exact; ties keep the lower reference index.
 */
export async function searchNearestTfjs(queries: Float32Array, refs: Float32Array, d: number, opts: TfjsSearchOptions): Promise<Neighbors> {
  await initBackend();
  const nq = queries.length / d;
  const nr = refs.length / d;
  const k = opts.k;
  const bq = opts.blockQueries ?? 2048;
  const br = opts.blockRefs ?? 8192;
  const out = emptyNeighbors(nq, k);
  const refBlocks: { r0: number; n: number; t: tf.Tensor2D }[] = [];
  for (let r0 = 0; r0 < nr; r0 += br) {
    const n = Math.min(br, nr - r0);
    const tr = new Float32Array(d * n);
    for (let j = 0; j < n; j++) {
      const o = (r0 + j) * d;
      for (let t = 0; t < d; t++) tr[t * n + j] = refs[o + t];
    }
    refBlocks.push({ r0, n, t: tf.tensor2d(tr, [d, n]) });
  }
  const scratch = new Float32Array(Math.min(bq, nq) * Math.min(br, nr));
  const bar = createProgress({ label: 'knn', total: nq, unit: 'query', quiet: !opts.progress });
  try {
    for (let q0 = 0; q0 < nq; q0 += bq) {
      const m = Math.min(bq, nq - q0);
      const qt = tf.tensor2d(queries.subarray(q0 * d, (q0 + m) * d), [m, d]);
      for (const rb of refBlocks) {
        const s = tf.matMul(qt, rb.t);
        const v = readInto(s, scratch);
        s.dispose();
        mergeTopK(v, m, rb.n, q0, rb.r0, k, out.indices, out.similarities, opts.exclude);
      }
      qt.dispose();
      bar.tick(m);
    }
  } finally {
    bar.stop();
    for (const rb of refBlocks) rb.t.dispose();
  }
  return out;
}
