import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { correctProfiles } from '../../src/profiles/correct.ts';
import { defaultClusters, harmonize } from '../../src/profiles/harmony.ts';
import { principalComponents } from '../../src/profiles/pca.ts';
import { neighbourShares, twoBatches } from './drawn.ts';

/** Fixture of test/profiles/corrections_reference.py (a float64 numpy Harmony on the same draws). */
const ref = JSON.parse(readFileSync(new URL('../fixtures/harmony-reference.json', import.meta.url), 'utf8')) as {
  n: number;
  k: number;
  z: number[];
  cases: {
    name: string;
    codes: number[][];
    levels: number[];
    theta: number[];
    lambda: number[];
    blockSize: number;
    nClusters: number;
    init: number[];
    perms: number[][];
    z: number[];
    r: number[];
    iterations: number;
    converged: boolean;
    objective: number[];
    kmeansRounds: number[];
  }[];
  pca: { n: number; d: number; x: number[]; scores: number[]; k: number; explained: number }[];
};

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let w = 0;
  for (let i = 0; i < a.length; i++) w = Math.max(w, Math.abs(a[i] - b[i]));
  return w;
};

describe('Harmony against the float64 numpy reference (same PCs, initial centroids and block orders)', () => {
  for (const c of ref.cases) {
    it(`${c.name}: corrected PCs, assignments and objective within 1e-6`, () => {
      let call = 0;
      const r = harmonize(
        Float64Array.from(ref.z),
        ref.n,
        ref.k,
        c.codes.map((x) => Int32Array.from(x)),
        c.levels,
        { theta: c.theta, lambda: c.lambda, sigma: 0.1, nClusters: c.nClusters, blockSize: c.blockSize, maxIterations: 10, maxKmeansIterations: 20, epsilonCluster: 1e-5, epsilonHarmony: 1e-4, seed: 0 },
        { init: Float64Array.from(c.init), permutation: () => c.perms[call++] },
      );
      expect(r.iterations).toBe(c.iterations);
      expect(r.converged).toBe(c.converged);
      expect(r.kmeansRounds).toEqual(c.kmeansRounds);
      expect(call).toBe(c.perms.length);
      expect(maxAbsDiff(r.objective, c.objective)).toBeLessThan(1e-6);
      expect(maxAbsDiff(r.r, c.r)).toBeLessThan(1e-6);
      expect(maxAbsDiff(r.z, c.z)).toBeLessThan(1e-6);
      // The correction moved the PCs (not a no-op that matches by accident).
      expect(maxAbsDiff(r.z, ref.z)).toBeGreaterThan(0.5);
    });
  }

  it('PCA scores equal numpy SVD scores (signs as scikit-learn svd_flip), by the covariance and by the Gram matrix', () => {
    for (const p of ref.pca) {
      const r = principalComponents(Float64Array.from(p.x), p.n, p.d, p.k);
      expect(maxAbsDiff(r.scores, p.scores)).toBeLessThan(1e-8);
      expect(r.explained).toBeCloseTo(p.explained, 10);
    }
  });

  it("harmonypy's default cluster count: min(round(N / 30), 100) with numpy's half-to-even rounding", () => {
    expect(defaultClusters(120)).toBe(4);
    expect(defaultClusters(75)).toBe(2); // 2.5 -> 2
    expect(defaultClusters(105)).toBe(4); // 3.5 -> 4
    expect(defaultClusters(10)).toBe(1);
    expect(defaultClusters(1e6)).toBe(100);
  });
});

describe('Harmony on drawn data with a known truth', () => {
  it('two batches of the same clusters, shifted and scaled: mixing partly restored, clusters kept; seeded', () => {
    const t = twoBatches(5, { perBatch: 90 });
    const before = neighbourShares(t, 10);
    const { table, step } = correctProfiles(t, { method: 'harmony', groupBy: [], batch: ['Batch'] });
    expect(step).toMatchObject({ method: 'harmony', fitOn: 'all', components: 6, batches: 2, converged: true });
    expect(table.featureNames[0]).toBe('harmony_0000');
    expect(table.d).toBe(6);
    const after = neighbourShares(table, 10);
    expect(before.otherBatch).toBeLessThan(0.05);
    // Harmony's correction is a shift per soft cluster: a per-feature scaling is undone only in part (0.27 of 0.5 here).
    expect(after.otherBatch).toBeGreaterThan(0.2);
    expect(after.sameCluster).toBeGreaterThan(0.9);
    // Same seed, same numbers.
    expect(correctProfiles(t, { method: 'harmony', groupBy: [], batch: ['Batch'] }).table.features).toEqual(table.features);
    expect(step.params).toMatchObject({ theta: 2, lambda: 1, sigma: 0.1, nClusters: 6, nPcs: 6, seed: 0 });
  });

  it('batches that differ by a shift: mixing restored to about 0.5 once the rounds converge; an unconverged run says so', () => {
    const t = twoBatches(5, { perBatch: 90, shiftOnly: true });
    const capped = correctProfiles(t, { method: 'harmony', groupBy: [], batch: ['Batch'] });
    expect(capped.step.converged).toBe(false);
    expect(capped.step.warnings?.[0]).toMatch(/harmony: the objective had not converged after 10 rounds/);
    const { table, step } = correctProfiles(t, { method: 'harmony', groupBy: [], batch: ['Batch'], params: { maxIterations: 50 } });
    expect(step.converged).toBe(true);
    const after = neighbourShares(table, 10);
    expect(after.otherBatch).toBeGreaterThan(0.4);
    expect(after.sameCluster).toBeGreaterThan(0.95);
  });
});

describe('Harmony: bad input gets one clear message', () => {
  const t = twoBatches(7, { perBatch: 20 });
  it('a batch with one profile, more PCs than profiles, a missing batch column, NaN', () => {
    const one = { ...t, meta: { ...t.meta, Metadata_Batch: t.meta.Metadata_Batch.map((b, i) => (i === 0 ? 'lonely' : b)) } };
    expect(() => correctProfiles(one, { method: 'harmony', groupBy: [], batch: ['Batch'] })).toThrow(/harmony: batch "lonely" of Metadata_Batch has 1 profile; each batch needs at least 2/);
    const small = { ...t, n: 4, features: t.features.slice(0, 4 * t.d), meta: Object.fromEntries(Object.entries(t.meta).map(([k, v]) => [k, [v[0], v[1], v[20], v[21]]])) };
    expect(() => correctProfiles(small, { method: 'harmony', groupBy: [], batch: ['Batch'], params: { nPcs: 5 } })).toThrow(/harmony: nPcs 5 is more principal components than 4 profiles give \(at most 3\)/);
    expect(() => correctProfiles(t, { method: 'harmony', groupBy: [], batch: ['Week'] })).toThrow(/Metadata column "Week" not found/);
    const nan = { ...t, features: Float32Array.from(t.features, (v, i) => (i === 0 ? NaN : v)) };
    expect(() => correctProfiles(nan, { method: 'harmony', groupBy: [], batch: ['Batch'] })).toThrow(/Feature "f0" is NaN in row 1/);
    expect(() => correctProfiles(t, { method: 'harmony', groupBy: [] })).toThrow(/harmony corrects between batches: name the batch column/);
    expect(() => correctProfiles(t, { method: 'harmony', groupBy: [], batch: ['Batch'], params: { theta: [1, 2] } })).toThrow(/theta has 2 value\(s\) for 1 batch column/);
  });
});
