/**
 * Benchmark suite `eval`: exact cosine kNN (k = 20) of 20k queries against 100k references of
 * dimension 512, blocked (no [20k x 100k] matrix held), against PyTorch in the same run. Prints
 * JSON lines: one per run `{case, engine, seconds, cpuSeconds, ...}` and a summary per engine with
 * the median seconds of ours and PyTorch's and `speedupVsTorch` (PyTorch seconds / ours: > 1 is
 * faster than PyTorch).
 *   npm run bench -- eval [--queries 20000] [--refs 100000] [--dim 512] [--k 20] [--rounds 1]
 *                         [--engines auto|native|int16|tfjs,...] [--peer torch|none] [--threads N]
 * Engines: `auto` (default: the engine's pick, native sgemm + selection when built, else the int16
 * wasm screen), `native`, `int16` (int16-screened wasm SIMD in worker threads), `tfjs` (float32 GEMM
 * on the tfjs backend). The peer (bench/peer-torch-knn.py: normalise + mm + topk over query blocks,
 * same thread count; its matrix product on PyTorch's oneDNN path, see the script) runs after ours
 * in each round, on the same data, so both see the same load.
 * A quick run: `npm run bench -- eval --queries 2000 --refs 20000`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '../src/util/rng.ts';
import { searchNearestJs, type Neighbors } from '../src/evaluation/topk.ts';
import { unitRows } from '../src/util/unit-rows.ts';
import { searchNearestTfjs } from '../src/evaluation/topk-tfjs.ts';
import { knnKernelFor, searchTopKInnerProduct, type KnnKernel } from '../src/engine/knn/index.ts';
import type { SearchStats } from '../src/engine/knn/exact.ts';
import { initBackend } from '../src/engine/backend.ts';
import { torchPython } from './engine.ts';

function arg(args: string[], name: string, def: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
}

function randomUnit(n: number, d: number, rng: Rng): Float32Array {
  const x = new Float32Array(n * d);
  for (let i = 0; i < x.length; i++) x[i] = rng.normal();
  return unitRows(x, d);
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const round2 = (v: number) => Number(v.toFixed(2));

/** Runs one engine. */
async function search(engine: string, q: Float32Array, r: Float32Array, d: number, k: number, threads: number, stats?: SearchStats): Promise<Neighbors> {
  if (engine === 'tfjs') {
    await initBackend({ threads });
    return searchNearestTfjs(q, r, d, { k, progress: true });
  }
  if (engine !== 'native' && engine !== 'int16') throw new Error(`unknown engine "${engine}" (auto | native | int16 | tfjs)`);
  return searchTopKInnerProduct(q, r, d, { k, kernel: engine as KnnKernel, threads, progress: true, stats });
}

/** Runs the suite. */
export async function run(args: string[]): Promise<void> {
  const nq = Number(arg(args, 'queries', '20000'));
  const nr = Number(arg(args, 'refs', '100000'));
  const d = Number(arg(args, 'dim', '512'));
  const k = Number(arg(args, 'k', '20'));
  const rounds = Number(arg(args, 'rounds', '1'));
  const threads = Number(arg(args, 'threads', process.env.BEN_THREADS || String(availableParallelism())));
  const engines = arg(args, 'engines', arg(args, 'engine', 'auto'))
    .split(',')
    .map((e) => (e === 'auto' ? knnKernelFor(nq, nr, d) : e));
  const peer = arg(args, 'peer', 'torch');
  const py = peer === 'torch' ? torchPython() : undefined;
  if (peer !== 'torch' && peer !== 'none') throw new Error(`unknown --peer "${peer}" (torch | none)`);
  if (peer === 'torch' && !py) console.error("notice: python3 -c 'import torch' fails (apt-get install python3-torch); no peer.");
  const rng = new Rng(1);
  const q = randomUnit(nq, d, rng);
  const r = randomUnit(nr, d, rng);
  const name = `knn-cosine-exact-${nq}x${nr}x${d}-k${k}`;
  console.error(`kNN ${nq} x ${nr} x ${d}, k=${k}, ${threads} threads, engines ${engines.join(', ')}${py ? ', peer PyTorch' : ''}`);
  const dir = py ? mkdtempSync(join(tmpdir(), 'ben-knn-')) : undefined;
  const file = dir ? join(dir, 'x.f32') : '';
  if (dir) {
    const all = new Float32Array((nq + nr) * d);
    all.set(q);
    all.set(r, nq * d);
    writeFileSync(file, new Uint8Array(all.buffer));
  }
  const times = new Map<string, number[]>(engines.map((e) => [e, []]));
  const loads: number[] = [];
  const torchTimes: number[] = [];
  let last: Neighbors | undefined;
  try {
    for (let round = 0; round < rounds; round++) {
      for (const engine of engines) {
        loads.push(loadavg()[0]);
        const t0 = performance.now();
        const c0 = process.cpuUsage();
        const searchStats: SearchStats = { fallbacks: 0, meanCandidates: 0 };
        const nb = await search(engine, q, r, d, k, threads, searchStats);
        const seconds = (performance.now() - t0) / 1000;
        const cpu = process.cpuUsage(c0);
        times.get(engine)!.push(seconds);
        last = nb;
        // The first 64 queries against the exact float64 JS kernel.
        const nCheck = Math.min(64, nq);
        const ref = searchNearestJs(q.subarray(0, nCheck * d), r, d, { k });
        let maxDiff = 0;
        for (let i = 0; i < nCheck * k; i++) maxDiff = Math.max(maxDiff, Math.abs(ref.similarities[i] - nb.similarities[i]));
        const stats = engine === 'int16' || engine === 'native' ? searchStats : undefined;
        console.log(
          JSON.stringify({
            case: name,
            engine,
            round,
            seconds: round2(seconds),
            threads,
            gflops: Number(((2 * nq * nr * d) / seconds / 1e9).toFixed(1)),
            // CPU seconds of all our threads: on a shared machine, cpuSeconds / threads estimates the quiet wall time.
            cpuSeconds: Number(((cpu.user + cpu.system) / 1e6).toFixed(1)),
            ...(stats ? { fallbacks: stats.fallbacks, meanCandidates: Number(stats.meanCandidates.toFixed(1)) } : {}),
            checkMaxScoreDiff: maxDiff,
            checkSameIndices: ref.indices.every((v, i) => v === nb.indices[i]),
            loadavg1: round2(loadavg()[0]),
          }),
        );
      }
      if (py && dir) {
        loads.push(loadavg()[0]);
        const script = fileURLToPath(new URL('./peer-torch-knn.py', import.meta.url));
        const res = spawnSync(py, [script, file, String(nq), String(nr), String(d), String(k), '--threads', String(threads)], { encoding: 'utf8' });
        if (res.status !== 0) {
          console.error(`PyTorch peer failed: ${res.stderr.split('\n').slice(-3).join(' ')}`);
          continue;
        }
        const t = JSON.parse(res.stdout.trim().split('\n').pop()!) as { seconds: number; cpuSeconds: number; threads: number; torch: string; mm: string };
        torchTimes.push(t.seconds);
        // Agreement with ours: queries whose k indices are the same (float32 topk may order near-ties differently).
        const idx = new Int32Array(readFileSync(`${file}.idx`).buffer.slice(0));
        let same = 0;
        for (let i = 0; i < nq && last; i++) {
          const a = new Set(idx.subarray(i * k, (i + 1) * k));
          if (Array.from(last.indices.subarray(i * k, (i + 1) * k)).every((j) => a.has(j))) same++;
        }
        console.log(
          JSON.stringify({
            case: name,
            engine: `torch ${t.torch} (${t.mm})`,
            round,
            seconds: round2(t.seconds),
            threads: t.threads,
            gflops: Number(((2 * nq * nr * d) / t.seconds / 1e9).toFixed(1)),
            cpuSeconds: Number(t.cpuSeconds.toFixed(1)),
            sameNeighbourSets: round2(same / nq),
            loadavg1: round2(loadavg()[0]),
          }),
        );
      }
    }
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
  for (const engine of engines) {
    const ours = median(times.get(engine)!);
    console.log(
      JSON.stringify({
        case: `${name}-summary`,
        engine,
        seconds: round2(ours),
        ...(torchTimes.length ? { torchSeconds: round2(median(torchTimes)), speedupVsTorch: round2(median(torchTimes) / ours) } : {}),
        rounds,
        load1: `${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)}`,
      }),
    );
  }
}
