import { describe, expect, it } from 'vitest';
import { searchNearestJs } from '../../src/evaluation/topk.ts';
import { unitRows } from '../../src/util/unit-rows.ts';
import { searchNearestInt16 } from '../../src/engine/knn/int16.ts';
import { buildDotI16Module } from '../../src/engine/knn/wasm-dot-i16.ts';
import { Rng } from '../../src/util/rng.ts';

describe('int16 wasm SIMD dot kernel', () => {
  it.each([
    [2, 4],
    [3, 4],
    [4, 3],
  ])('computes exact int32 inner products (%i x %i tiles, odd values, extremes)', async (tq, tr) => {
    const mod = await WebAssembly.compile(buildDotI16Module(tq, tr));
    const memory = new WebAssembly.Memory({ initial: 4 });
    const dot = new WebAssembly.Instance(mod, { env: { memory } }).exports.dot as (...a: number[]) => void;
    const nq = 12;
    const nr = 12;
    const d = 32;
    const q = new Int16Array(memory.buffer, 0, nq * d);
    const r = new Int16Array(memory.buffer, 4096, nr * d);
    const rng = new Rng(1);
    for (let i = 0; i < q.length; i++) q[i] = rng.int(4095) - 2047;
    for (let i = 0; i < r.length; i++) r[i] = rng.int(4095) - 2047;
    q.fill(2047, 0, d); // a row of maxima: the int32 range the search relies on
    r.fill(-2047, 0, d);
    dot(0, 4096, 16384, nq, nr, 2 * d);
    const out = new Int32Array(memory.buffer, 16384, nq * nr);
    for (let i = 0; i < nq; i++)
      for (let j = 0; j < nr; j++) {
        let s = 0;
        for (let t = 0; t < d; t++) s += q[i * d + t] * r[j * d + t];
        expect(out[i * nr + j]).toBe(s);
      }
  });
});

describe('exact int16-screened kNN search', () => {
  it('equals the exact JS kernel on random data, with exclusions, odd sizes and several workers', async () => {
    const rng = new Rng(4);
    const d = 37;
    const nq = 101;
    const nr = 1203;
    const q = unitRows(Float32Array.from({ length: nq * d }, () => rng.normal()), d);
    const r = unitRows(Float32Array.from({ length: nr * d }, () => rng.normal()), d);
    const gq = Int32Array.from({ length: nq }, () => rng.int(5));
    const gr = Int32Array.from({ length: nr }, () => rng.int(5));
    const opts = { k: 7, exclude: [{ query: gq, ref: gr }] };
    const ref = searchNearestJs(q, r, d, opts);
    const stats = { fallbacks: 0, meanCandidates: 0 };
    const got = await searchNearestInt16(q, r, d, { ...opts, threads: 2, blockQueries: 16, blockRefs: 100, stats });
    expect(Array.from(got.indices)).toEqual(Array.from(ref.indices));
    expect(Array.from(got.similarities)).toEqual(Array.from(ref.similarities));
    expect(stats.meanCandidates).toBeGreaterThanOrEqual(7);
  });

  it('stays exact on duplicated and tied references (candidate overflow falls back to the full search)', async () => {
    const rng = new Rng(8);
    const d = 16;
    const base = Float32Array.from({ length: 20 * d }, () => rng.int(3) - 1);
    // 60 references that are 3 copies of 20 small-integer rows: many exact ties.
    const r = unitRows(Float32Array.from({ length: 60 * d }, (_, i) => base[i % (20 * d)]), d);
    const q = unitRows(Float32Array.from({ length: 9 * d }, () => rng.int(3) - 1), d);
    const ref = searchNearestJs(q, r, d, { k: 5 });
    const stats = { fallbacks: 0, meanCandidates: 0 };
    const got = await searchNearestInt16(q, r, d, { k: 5, candidates: 6, threads: 1, stats });
    expect(Array.from(got.indices)).toEqual(Array.from(ref.indices));
    expect(stats.fallbacks).toBeGreaterThan(0);
  });
});
