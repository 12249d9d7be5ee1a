import { describe, expect, it } from 'vitest';
import { searchNearestJs } from '../../src/engine/knn/exact.ts';
import { unitRows } from '../../src/util/unit-rows.ts';
import { knnKernelFor, searchTopKInnerProduct } from '../../src/engine/knn/index.ts';
import { searchNearestNative } from '../../src/engine/knn/native.ts';
import { loadNative } from '../../src/engine/native.ts';
import { Rng } from '../../src/util/rng.ts';

/**
 * The native exact kNN (sgemm screen + float64 rescoring) against the float64 JS brute force:
 * identical indices and similarities, with exclusions, odd block sizes, ties and candidate-list
 * overflow. Skipped where the native engine is not built (the int16 kernel has its own suite).
 */
const addon = loadNative();

describe.skipIf(!addon)('native exact kNN search', () => {
  it('equals the float64 brute force on random data, with exclusions, odd sizes and blocks, several threads', async () => {
    const rng = new Rng(4);
    const d = 37;
    const nq = 101;
    const nr = 1203;
    const q = unitRows(Float32Array.from({ length: nq * d }, () => rng.normal()), d);
    const r = unitRows(Float32Array.from({ length: nr * d }, () => rng.normal()), d);
    const gq = Int32Array.from({ length: nq }, () => rng.int(5));
    const gr = Int32Array.from({ length: nr }, () => rng.int(5));
    const hq = Int32Array.from({ length: nq }, () => rng.int(50));
    const hr = Int32Array.from({ length: nr }, () => rng.int(50));
    const opts = { k: 7, exclude: [{ query: gq, ref: gr }, { query: hq, ref: hr }] };
    const ref = searchNearestJs(q, r, d, opts);
    const stats = { fallbacks: 0, meanCandidates: 0 };
    const got = await searchNearestNative(addon!, q, r, d, { ...opts, threads: 2, blockQueries: 16, blockRefs: 100, chunkQueries: 37, stats });
    expect(Array.from(got.indices)).toEqual(Array.from(ref.indices));
    expect(Array.from(got.similarities)).toEqual(Array.from(ref.similarities));
    expect(stats.meanCandidates).toBeGreaterThanOrEqual(7);
    expect(stats.fallbacks).toBe(0);
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
    const got = await searchNearestNative(addon!, q, r, d, { k: 5, candidates: 6, threads: 1, blockRefs: 7, stats });
    expect(Array.from(got.indices)).toEqual(Array.from(ref.indices));
    expect(Array.from(got.similarities)).toEqual(Array.from(ref.similarities));
    expect(stats.fallbacks).toBeGreaterThan(0);
  });

  it('pads with -1 / -Infinity when fewer than k references are admissible, and handles zero rows', async () => {
    const rng = new Rng(2);
    const d = 8;
    const q = unitRows(Float32Array.from({ length: 5 * d }, () => rng.normal()), d);
    q.fill(0, 0, d); // a zero query: every score ties at 0
    const r = unitRows(Float32Array.from({ length: 6 * d }, () => rng.normal()), d);
    const codes = Int32Array.from([0, 0, 0, 1, 1, 1]);
    const opts = { k: 4, exclude: [{ query: Int32Array.from([0, 0, 1, 1, 0]), ref: codes }] };
    const ref = searchNearestJs(q, r, d, opts);
    const got = await searchNearestNative(addon!, q, r, d, { ...opts, threads: 2 });
    expect(Array.from(got.indices)).toEqual(Array.from(ref.indices));
    expect(Array.from(got.similarities)).toEqual(Array.from(ref.similarities));
    expect(got.indices[3]).toBe(-1);
    expect(got.similarities[3]).toBe(-Infinity);
  });

  it('is the engine default when built, and gives the brute force result there', async () => {
    expect(knnKernelFor(10, 10, 4)).toBe('native');
    const rng = new Rng(5);
    const d = 64;
    const q = unitRows(Float32Array.from({ length: 300 * d }, () => rng.normal()), d);
    const ref = searchNearestJs(q, q, d, { k: 10 });
    const got = await searchTopKInnerProduct(q, q, d, { k: 10 });
    expect(Array.from(got.indices)).toEqual(Array.from(ref.indices));
    expect(Array.from(got.similarities)).toEqual(Array.from(ref.similarities));
  });
});
