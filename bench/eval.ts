/**
 * Benchmark suite `eval`: exact cosine kNN (k = 20) of 20k queries against 100k references of
 * dimension 512, blocked (no [20k x 100k] matrix held). Prints JSON lines `{case, seconds, ...}`.
 *   npm run bench -- eval [--queries 20000] [--refs 100000] [--dim 512] [--k 20] [--engine int16|tfjs|both]
 *                         [--numpy [--paired-only]]
 * Engines: `int16` (default; exact int16-screened search on our wasm SIMD kernel in worker threads)
 * and `tfjs` (float32 GEMM on the tfjs backend).
 * `--numpy` also times numpy (BLAS matmul + argpartition, same blocks) through python3 when it is
 * installed, interleaved with our kernel on the first `--pair-queries` (2048) queries against all
 * references, `--pairs` (3) times: the machine is shared, so only interleaved timings compare.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../src/util/rng.ts';
import { unitRows, searchNearestJs } from '../src/evaluation/topk.ts';
import { searchNearestTfjs } from '../src/evaluation/topk-tfjs.ts';
import { lastInt16Stats, searchNearestInt16 } from '../src/evaluation/topk-int16.ts';
import type { Neighbors } from '../src/evaluation/topk.ts';
import { initBackend } from '../src/engine/backend.ts';

function arg(args: string[], name: string, def: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
}

function randomUnit(n: number, d: number, rng: Rng): Float32Array {
  const x = new Float32Array(n * d);
  for (let i = 0; i < x.length; i++) x[i] = rng.normal();
  return unitRows(x, d);
}

const NUMPY = `
import sys, time, numpy as np
nq, nr, d, k = map(int, sys.argv[2:6])
x = np.fromfile(sys.argv[1], dtype=np.float32)
q = x[: nq * d].reshape(nq, d); r = x[nq * d :].reshape(nr, d)
t0 = time.perf_counter(); c0 = time.process_time()
idx = np.empty((nq, k), dtype=np.int64)
for q0 in range(0, nq, 2048):
    s = q[q0 : q0 + 2048] @ r.T
    part = np.argpartition(-s, k, axis=1)[:, :k]
    ps = np.take_along_axis(s, part, 1)
    idx[q0 : q0 + 2048] = np.take_along_axis(part, np.argsort(-ps, axis=1), 1)
print(time.perf_counter() - t0, time.process_time() - c0)
`;

/**
 * Same-load comparison with numpy: `pairs` alternating runs of ours and numpy's on the first
 * `pq` queries against all references (the machine is shared, so only interleaved timings compare).
 */
async function pairedNumpy(engine: string, q: Float32Array, r: Float32Array, nq: number, nr: number, d: number, k: number, pq: number, pairs: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ben-knn-'));
  try {
    const m = Math.min(pq, nq);
    const f = join(dir, 'x.f32');
    const all = new Float32Array((m + nr) * d);
    all.set(q.subarray(0, m * d));
    all.set(r, m * d);
    writeFileSync(f, new Uint8Array(all.buffer));
    const ours: number[] = [];
    const theirs: number[] = [];
    const oursCpu: number[] = [];
    const theirsCpu: number[] = [];
    for (let p = 0; p < pairs; p++) {
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      await search(engine, q.subarray(0, m * d), r, d, k, false);
      ours.push((performance.now() - t0) / 1000);
      const c = process.cpuUsage(c0);
      oursCpu.push((c.user + c.system) / 1e6);
      const py = spawnSync('python3', ['-c', NUMPY, f, String(m), String(nr), String(d), String(k)], { encoding: 'utf8' });
      if (py.status !== 0) {
        console.error(`numpy reference skipped: ${py.stderr.split('\n').slice(-2).join(' ')}`);
        return;
      }
      const [wall, cpu] = py.stdout.trim().split(/\s+/).map(Number);
      theirs.push(wall);
      theirsCpu.push(cpu);
    }
    const med = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
    console.log(
      JSON.stringify({
        case: `knn-paired-vs-numpy-${m}x${nr}x${d}-k${k}`,
        engine,
        seconds: Number(med(ours).toFixed(2)),
        numpySeconds: Number(med(theirs).toFixed(2)),
        ratioOursToNumpy: Number((med(ours) / med(theirs)).toFixed(2)),
        cpuSeconds: Number(med(oursCpu).toFixed(2)),
        numpyCpuSeconds: Number(med(theirsCpu).toFixed(2)),
        cpuRatioOursToNumpy: Number((med(oursCpu) / med(theirsCpu)).toFixed(2)),
        oursRuns: ours.map((v) => Number(v.toFixed(2))),
        numpyRuns: theirs.map((v) => Number(v.toFixed(2))),
        loadavg1: Number(loadavg()[0].toFixed(2)),
      }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The engine of the paired comparison (`both` pairs the default engine). */
function engineOf(args: string[]): string {
  const e = args.includes('--engine') ? args[args.indexOf('--engine') + 1] : 'int16';
  return e === 'both' ? 'int16' : e;
}

/** Runs one engine. */
function search(engine: string, q: Float32Array, r: Float32Array, d: number, k: number, progress: boolean): Promise<Neighbors> {
  if (engine === 'int16') return searchNearestInt16(q, r, d, { k, progress });
  if (engine === 'tfjs') return searchNearestTfjs(q, r, d, { k, progress });
  throw new Error(`unknown engine "${engine}" (int16 | tfjs | both)`);
}

/** Runs the suite. */
export async function run(args: string[]): Promise<void> {
  const nq = arg(args, 'queries', 20000);
  const nr = arg(args, 'refs', 100000);
  const d = arg(args, 'dim', 512);
  const k = arg(args, 'k', 20);
  const info = await initBackend();
  const rng = new Rng(1);
  const q = randomUnit(nq, d, rng);
  const r = randomUnit(nr, d, rng);
  console.error(`kNN ${nq} x ${nr} x ${d}, k=${k}, backend ${info.backend} (${info.threads} threads)`);
  if (args.includes('--paired-only')) {
    await pairedNumpy(engineOf(args), q, r, nq, nr, d, k, arg(args, 'pair-queries', 2048), arg(args, 'pairs', 3));
    return;
  }
  const engineArg = args.includes('--engine') ? args[args.indexOf('--engine') + 1] : 'int16';
  const engines = engineArg === 'both' ? ['int16', 'tfjs'] : [engineArg];
  for (const engine of engines) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const nb = await search(engine, q, r, d, k, true);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(c0);
    // CPU seconds of all our threads: on a shared machine, cpuSeconds / threads estimates the quiet wall time.
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    // Check the first 64 queries against the exact float64 JS kernel.
    const nCheck = Math.min(64, nq);
    const ref = searchNearestJs(q.subarray(0, nCheck * d), r, d, { k });
    let maxDiff = 0;
    for (let i = 0; i < nCheck * k; i++) maxDiff = Math.max(maxDiff, Math.abs(ref.similarities[i] - nb.similarities[i]));
    const sameIdx = ref.indices.every((v, i) => v === nb.indices[i]);
    console.log(
      JSON.stringify({
        case: `knn-cosine-exact-${nq}x${nr}x${d}-k${k}`,
        seconds: Number(seconds.toFixed(2)),
        engine,
        threads: engine === 'tfjs' ? info.threads : Number(process.env.BEN_THREADS) || availableParallelism(),
        gflops: Number(((2 * nq * nr * d) / seconds / 1e9).toFixed(1)),
        cpuSeconds: Number(cpuSeconds.toFixed(1)),
        ...(engine === 'int16' ? { fallbacks: lastInt16Stats.fallbacks, meanCandidates: Number(lastInt16Stats.meanCandidates.toFixed(1)) } : {}),
        checkMaxScoreDiff: maxDiff,
        checkSameIndices: sameIdx,
        // The reference timings (this machine, quiet): sklearn 58 s, PyTorch mm+topk (2 threads) 20 s.
        ...(nq === 20000 && nr === 100000 && d === 512 && k === 20
          ? { speedupVsSklearn58s: Number((58 / seconds).toFixed(2)), speedupVsPytorch20s: Number((20 / seconds).toFixed(2)) }
          : {}),
        loadavg1: Number(loadavg()[0].toFixed(2)),
      }),
    );
  }
  if (args.includes('--numpy')) await pairedNumpy(engineOf(args), q, r, nq, nr, d, k, arg(args, 'pair-queries', 2048), arg(args, 'pairs', 3));
}
