import { describe, expect, it } from 'vitest';
import { searchNearestJs } from '../../src/evaluation/topk.ts';
import { unitRows } from '../../src/util/unit-rows.ts';
import { searchNearestTfjs } from '../../src/evaluation/topk-tfjs.ts';
import { Rng } from '../../src/util/rng.ts';

describe('blocked top-k search on the tfjs backend', () => {
  it('returns the same neighbours as the float64 JS kernel, across block edges, with exclusions', async () => {
    const rng = new Rng(21);
    const d = 24;
    const nq = 150;
    const nr = 1000;
    const q = unitRows(Float32Array.from({ length: nq * d }, () => rng.normal()), d);
    const r = unitRows(Float32Array.from({ length: nr * d }, () => rng.normal()), d);
    const gq = Int32Array.from({ length: nq }, () => rng.int(4));
    const gr = Int32Array.from({ length: nr }, () => rng.int(4));
    const opts = { k: 5, exclude: [{ query: gq, ref: gr }] };
    const ref = searchNearestJs(q, r, d, opts);
    // Odd block sizes so that blocks end mid-way through both matrices.
    const got = await searchNearestTfjs(q, r, d, { ...opts, blockQueries: 64, blockRefs: 300 });
    for (let i = 0; i < nq * 5; i++) expect(got.similarities[i]).toBeCloseTo(ref.similarities[i], 5);
    // Random Gaussian data has no near-ties at this size: the indices agree exactly.
    expect(Array.from(got.indices)).toEqual(Array.from(ref.indices));
    for (let i = 0; i < nq; i++) for (let t = 0; t < 5; t++) expect(gr[got.indices[i * 5 + t]]).not.toBe(gq[i]);
  });
});
