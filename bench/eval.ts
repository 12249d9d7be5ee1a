/**
 * Benchmark suite `eval`: exact cosine kNN (k = 20) of 20k queries against 100k references of
 * dimension 512, blocked (no [20k x 100k] matrix held). Prints JSON lines `{case, seconds, ...}`.
 *   npm run bench -- eval [--queries 20000] [--refs 100000] [--dim 512] [--k 20] [--numpy]
 * `--numpy` also times numpy (BLAS matmul + argpartition, same blocks) on the same data through
 * python3 when it is installed, for a same-machine, same-load reference.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../src/util/rng.ts';
import { unitRows, searchNearestJs } from '../src/evaluation/topk.ts';
import { searchNearestTfjs } from '../src/evaluation/topk-tfjs.ts';
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
t0 = time.perf_counter()
idx = np.empty((nq, k), dtype=np.int64)
for q0 in range(0, nq, 2048):
    s = q[q0 : q0 + 2048] @ r.T
    part = np.argpartition(-s, k, axis=1)[:, :k]
    ps = np.take_along_axis(s, part, 1)
    idx[q0 : q0 + 2048] = np.take_along_axis(part, np.argsort(-ps, axis=1), 1)
print(time.perf_counter() - t0)
`;

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
  const t0 = performance.now();
  const nb = await searchNearestTfjs(q, r, d, { k, progress: true });
  const seconds = (performance.now() - t0) / 1000;
  // Check the first 64 queries against the float64 JS kernel (ties in float32 may swap, so compare scores).
  const nCheck = Math.min(64, nq);
  const ref = searchNearestJs(q.subarray(0, nCheck * d), r, d, { k });
  let maxDiff = 0;
  for (let i = 0; i < nCheck * k; i++) maxDiff = Math.max(maxDiff, Math.abs(ref.similarities[i] - nb.similarities[i]));
  const sameIdx = ref.indices.every((v, i) => v === nb.indices[i]);
  console.log(
    JSON.stringify({
      case: `knn-cosine-exact-${nq}x${nr}x${d}-k${k}`,
      seconds: Number(seconds.toFixed(2)),
      engine: `tfjs-${info.backend}`,
      threads: info.threads,
      gflops: Number(((2 * nq * nr * d) / seconds / 1e9).toFixed(1)),
      checkMaxScoreDiff: maxDiff,
      checkSameIndices: sameIdx,
      // The reference timings (this machine, quiet): sklearn 58 s, PyTorch mm+topk (2 threads) 20 s.
      ...(nq === 20000 && nr === 100000 && d === 512 && k === 20
        ? { speedupVsSklearn58s: Number((58 / seconds).toFixed(2)), speedupVsPytorch20s: Number((20 / seconds).toFixed(2)) }
        : {}),
      loadavg1: Number(loadavg()[0].toFixed(2)),
    }),
  );
  if (args.includes('--numpy')) {
    const dir = mkdtempSync(join(tmpdir(), 'ben-knn-'));
    try {
      const f = join(dir, 'x.f32');
      const all = new Float32Array(q.length + r.length);
      all.set(q);
      all.set(r, q.length);
      writeFileSync(f, new Uint8Array(all.buffer));
      const p = spawnSync('python3', ['-c', NUMPY, f, String(nq), String(nr), String(d), String(k)], { encoding: 'utf8' });
      if (p.status === 0) {
        const s = Number(p.stdout.trim());
        console.log(JSON.stringify({ case: `knn-numpy-matmul-argpartition-${nq}x${nr}x${d}-k${k}`, seconds: Number(s.toFixed(2)), ratioOursToNumpy: Number((seconds / s).toFixed(2)) }));
      } else console.error(`numpy reference skipped: ${p.stderr.split('\n').slice(-2).join(' ')}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
