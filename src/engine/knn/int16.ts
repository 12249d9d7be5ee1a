/**
 * Exact top-k similarity search, screened in int16: rows are quantised to int16 (references with
 * one global scale, each query with its own), all int32 inner products come from the hand-assembled
 * wasm SIMD kernel (wasm-dot-i16.ts) in worker threads, and each query keeps its best `candidates`
 * int scores. The quantisation error is bounded per query by Cauchy-Schwarz,
 *   |q.r - q~.r~| <= |e_q| |r| + |q~| |e_r|   (e = row minus its dequantised int16 copy),
 * so every reference that can be in the exact top k scores within 2 bounds of the k-th int score;
 * those candidates are rescored exactly (float64 sums rounded to float32, as searchNearestJs does)
 * and a query whose candidate list overflowed is searched exactly in full. Results equal the exact
 * kernels', ties to the lower reference index. Memory: each worker holds the int16 references.
 */
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { buildDotI16Module, TILE_Q, TILE_R } from './wasm-dot-i16.ts';
import { emptyNeighbors, searchNearestJs, type ExclusionCodes, type Neighbors, type SearchOptions, type SearchStats } from './exact.ts';
import { createProgress } from '../../util/progress.ts';
import { engineEnvironment } from '../flags.ts';

/** Options of {@link searchNearestInt16}. */
export interface Int16SearchOptions extends SearchOptions {
  /** Worker threads. Default: BEN_THREADS, else the number of cores. */
  threads?: number;
  /** Int scores kept per query before exact rescoring. Default 2k + 32. */
  candidates?: number;
  /** Queries / references per kernel call. Defaults 128 / 512 (the reference block stays in L2). */
  blockQueries?: number;
  blockRefs?: number;
  progress?: boolean;
}

/** Statistics of the last search (for benchmarks and tests). */
/** Statistics of a {@link searchNearestInt16} call. */
export type Int16SearchStats = SearchStats;

/** Row-wise int16 quantisation with exact error norms (float64). */
function quantize(x: Float32Array, n: number, d: number, dPad: number, qmax: number, globalScale: boolean) {
  const ints = new Int16Array(n * dPad);
  const scale = new Float64Array(n);
  const errNorm = new Float64Array(n);
  const qNorm = new Float64Array(n);
  const norm = new Float64Array(n);
  let gmax = 0;
  if (globalScale) for (let i = 0; i < x.length; i++) gmax = Math.max(gmax, Math.abs(x[i]));
  for (let i = 0; i < n; i++) {
    const o = i * d;
    let m = gmax;
    if (!globalScale) for (let t = 0; t < d; t++) m = Math.max(m, Math.abs(x[o + t]));
    const s = m > 0 ? qmax / m : 1;
    scale[i] = s;
    let e2 = 0;
    let q2 = 0;
    let n2 = 0;
    for (let t = 0; t < d; t++) {
      const v = x[o + t];
      const qi = Math.round(v * s);
      ints[i * dPad + t] = qi;
      const deq = qi / s;
      e2 += (v - deq) ** 2;
      q2 += deq * deq;
      n2 += v * v;
    }
    errNorm[i] = Math.sqrt(e2);
    qNorm[i] = Math.sqrt(q2);
    norm[i] = Math.sqrt(n2);
  }
  return { ints, scale, errNorm, qNorm, norm };
}

/** Worker body (plain JS, run with `eval`): int scores of its query range, best `K` per query. */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { module, refs, nr, nrPad, dPad, queries, q0, q1, K, bq, br, exclude, tq } = workerData;
const dBytes = dPad * 2;
const bqPad = Math.ceil(bq / tq) * tq;
const refBytes = nrPad * dBytes;
const qBytes = bqPad * dBytes;
const outBytes = bqPad * br * 4;
const memory = new WebAssembly.Memory({ initial: Math.ceil((refBytes + qBytes + outBytes) / 65536) + 1 });
const dot = new WebAssembly.Instance(module, { env: { memory } }).exports.dot;
new Int16Array(memory.buffer, 0, nrPad * dPad).set(new Int16Array(refs));
const qView = new Int16Array(memory.buffer, refBytes, bqPad * dPad);
const out = new Int32Array(memory.buffer, refBytes + qBytes, bqPad * br);
const allQ = new Int16Array(queries);
const nq = q1 - q0;
const sc = new Int32Array(nq * K).fill(-2147483648);
const ix = new Int32Array(nq * K).fill(-1);
const ex = exclude.map((e) => ({ query: new Int32Array(e.query), ref: new Int32Array(e.ref) }));
let lastPost = Date.now();
for (let a0 = 0; a0 < nq; a0 += bq) {
  const m = Math.min(bq, nq - a0);
  const mPad = Math.ceil(m / tq) * tq;
  qView.fill(0);
  qView.set(allQ.subarray((q0 + a0) * dPad, (q0 + a0 + m) * dPad));
  for (let r0 = 0; r0 < nr; r0 += br) {
    const nb = Math.min(br, nrPad - r0);
    dot(refBytes, r0 * dBytes, refBytes + qBytes, mPad, nb, dBytes);
    const nReal = Math.min(nb, nr - r0);
    for (let i = 0; i < m; i++) {
      const qi = q0 + a0 + i;
      const o = (a0 + i) * K;
      let thr = sc[o + K - 1];
      const row = i * nb;
      for (let j = 0; j < nReal; j++) {
        const v = out[row + j];
        if (v <= thr) continue;
        const rj = r0 + j;
        let skip = false;
        for (let e = 0; e < ex.length; e++) if (ex[e].query[qi] === ex[e].ref[rj]) skip = true;
        if (skip) continue;
        let p = K - 1;
        while (p > 0 && sc[o + p - 1] < v) { sc[o + p] = sc[o + p - 1]; ix[o + p] = ix[o + p - 1]; p--; }
        sc[o + p] = v; ix[o + p] = rj;
        thr = sc[o + K - 1];
      }
    }
  }
  if (Date.now() - lastPost > 500) { parentPort.postMessage({ progress: a0 + m }); lastPost = Date.now(); }
}
parentPort.postMessage({ done: true, sc, ix }, [sc.buffer, ix.buffer]);
`;

let compiled: WebAssembly.Module | undefined;

/**
 * Exact top-k inner products of unit rows `queries` [nq, d] against `refs` [nr, d] (cosine; Pearson
 * on centred rows), int16-screened and exactly rescored. Same result as {@link searchNearestJs}.
 */
export async function searchNearestInt16(queries: Float32Array, refs: Float32Array, d: number, opts: Int16SearchOptions): Promise<Neighbors> {
  const nq = queries.length / d;
  const nr = refs.length / d;
  const k = opts.k;
  const K = Math.max(k, opts.candidates ?? 2 * k + 32);
  const dPad = Math.ceil(d / 8) * 8;
  // |int dot| <= dPad * qmax^2 must fit in int32.
  const qmax = Math.min(32767, Math.floor(Math.sqrt(2147483647 / dPad)) - 1);
  const nrPad = Math.ceil(nr / TILE_R) * TILE_R;
  const R = quantize(refs, nr, d, dPad, qmax, true);
  const Q = quantize(queries, nq, d, dPad, qmax, false);
  const refShared = new SharedArrayBuffer(nrPad * dPad * 2);
  new Int16Array(refShared).set(R.ints);
  const qShared = new SharedArrayBuffer(nq * dPad * 2);
  new Int16Array(qShared).set(Q.ints);
  compiled ??= await WebAssembly.compile(buildDotI16Module());
  const threads = Math.max(1, Math.min(opts.threads ?? (engineEnvironment().threads || availableParallelism()), Math.ceil(nq / 2)));
  const bq = opts.blockQueries ?? 128;
  const br = Math.ceil((opts.blockRefs ?? 512) / TILE_R) * TILE_R;
  const bar = createProgress({ label: 'knn', total: nq, unit: 'query', quiet: !opts.progress });
  const per = Math.ceil(nq / threads);
  const done = new Array<number>(threads).fill(0);
  const exclude = (opts.exclude ?? []).map((e) => ({ query: e.query, ref: e.ref }));
  const parts = await Promise.all(
    Array.from({ length: threads }, (_, w) => {
      const q0 = Math.min(nq, w * per);
      const q1 = Math.min(nq, q0 + per);
      return new Promise<{ q0: number; sc: Int32Array; ix: Int32Array }>((resolve, reject) => {
        if (q1 <= q0) return resolve({ q0, sc: new Int32Array(0), ix: new Int32Array(0) });
        const worker = new Worker(WORKER, {
          eval: true,
          workerData: { module: compiled, refs: refShared, nr, nrPad, dPad, queries: qShared, q0, q1, K, bq, br, exclude, tq: TILE_Q },
        });
        worker.on('message', (msg: { progress?: number; done?: boolean; sc?: Int32Array; ix?: Int32Array }) => {
          if (msg.progress !== undefined) {
            bar.tick(msg.progress - done[w]);
            done[w] = msg.progress;
          }
          if (msg.done) {
            bar.tick(q1 - q0 - done[w]);
            resolve({ q0, sc: msg.sc!, ix: msg.ix! });
            void worker.terminate();
          }
        });
        worker.on('error', reject);
      });
    }),
  );
  bar.stop();
  // Exact rescoring of the candidates.
  const out = emptyNeighbors(nq, k);
  const refErrMax = R.errNorm.reduce((a, b) => Math.max(a, b), 0);
  const refNormMax = R.norm.reduce((a, b) => Math.max(a, b), 0);
  let fallbacks = 0;
  let candidates = 0;
  const cand: { j: number; v: number }[] = [];
  for (const part of parts) {
    const m = part.sc.length / K;
    for (let a = 0; a < m; a++) {
      const i = part.q0 + a;
      const o = a * K;
      const full = part.ix[o + K - 1] >= 0;
      // Bound in the int domain (x Sq_i * Sr), plus slack for float rounding.
      const bound = Q.errNorm[i] * refNormMax + Q.qNorm[i] * refErrMax + 1e-6;
      const kth = part.ix[o + k - 1] >= 0 ? part.sc[o + k - 1] : -Infinity;
      const thr = kth - Math.ceil(2 * bound * Q.scale[i] * R.scale[0]) - 1;
      if (full && part.sc[o + K - 1] >= thr) {
        // The list may have dropped a candidate: search this query exactly in full.
        fallbacks++;
        const one = searchNearestJs(queries.subarray(i * d, (i + 1) * d), refs, d, {
          k,
          exclude: opts.exclude?.map((e) => ({ query: Int32Array.of(e.query[i]), ref: e.ref })),
        });
        out.indices.set(one.indices, i * k);
        out.similarities.set(one.similarities, i * k);
        continue;
      }
      cand.length = 0;
      const qo = i * d;
      for (let t = 0; t < K; t++) {
        const j = part.ix[o + t];
        if (j < 0 || part.sc[o + t] < thr) break;
        let acc = 0;
        const ro = j * d;
        for (let s = 0; s < d; s++) acc += queries[qo + s] * refs[ro + s];
        cand.push({ j, v: Math.fround(acc) });
      }
      candidates += cand.length;
      cand.sort((x, y) => y.v - x.v || x.j - y.j);
      for (let t = 0; t < Math.min(k, cand.length); t++) {
        out.indices[i * k + t] = cand[t].j;
        out.similarities[i * k + t] = cand[t].v;
      }
    }
  }
  if (opts.stats) Object.assign(opts.stats, { fallbacks, meanCandidates: nq ? candidates / nq : 0 });
  return out;
}

export type { ExclusionCodes };
