import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { combat } from '../../src/profiles/combat.ts';
import { correctProfiles } from '../../src/profiles/correct.ts';
import type { ProfileTable } from '../../src/tables/profile-table.ts';
import { twoBatches, neighbourShares } from './drawn.ts';

/** Fixture of test/profiles/corrections_reference.py (a float64 numpy ComBat, one feature at a time). */
const ref = JSON.parse(readFileSync(new URL('../fixtures/combat-reference.json', import.meta.url), 'utf8')) as {
  n: number;
  d: number;
  batch: number[];
  x: number[];
  covariate: number[];
  cases: { name: string; meanOnly: boolean; cov: number[]; c: number; out: number[]; gammaStar: number[]; deltaStar: number[]; unadjusted: number[] }[];
};

describe('ComBat against the float64 numpy reference', () => {
  for (const c of ref.cases) {
    it(`${c.name}: adjusted values, gamma* and delta* within 1e-6`, () => {
      const r = combat(Float64Array.from(ref.x), ref.n, ref.d, Int32Array.from(ref.batch), 3, Float64Array.from(c.cov), c.c, { meanOnly: c.meanOnly });
      expect(r.unadjusted).toEqual(c.unadjusted);
      let worst = 0;
      for (let i = 0; i < ref.n * ref.d; i++) worst = Math.max(worst, Math.abs(r.x[i] - c.out[i]));
      expect(worst).toBeLessThan(1e-6);
      for (let i = 0; i < 3 * ref.d; i++) {
        if (c.gammaStar[i] === -999) {
          expect(r.gammaStar[i]).toBeNaN();
          continue;
        }
        expect(Math.abs(r.gammaStar[i] - c.gammaStar[i])).toBeLessThan(1e-6);
        expect(Math.abs(r.deltaStar[i] - c.deltaStar[i])).toBeLessThan(1e-6);
      }
      // The feature constant in batch 1 is untouched.
      for (let i = 0; i < ref.n; i++) expect(r.x[i * ref.d + 4]).toBe(ref.x[i * ref.d + 4]);
    });
  }
});

describe('ComBat on drawn data with a known truth', () => {
  it('two batches of the same clusters, shifted and scaled: batch means and spreads aligned, clusters kept', () => {
    const t = twoBatches(5);
    const before = neighbourShares(t, 10);
    const { table, step } = correctProfiles(t, { method: 'combat', groupBy: [], batch: ['Batch'] });
    expect(step).toMatchObject({ method: 'combat', fitOn: 'all', batches: 2, unadjusted: 0 });
    const after = neighbourShares(table, 10);
    // Before: neighbours come from the own batch; after: about half from the other (0.5 is perfect mixing).
    expect(before.otherBatch).toBeLessThan(0.05);
    expect(after.otherBatch).toBeGreaterThan(0.4);
    expect(after.sameCluster).toBeGreaterThan(0.95);
    const mean = (tb: ProfileTable, b: string, j: number) => {
      const rows = [...Array(tb.n).keys()].filter((i) => tb.meta.Metadata_Batch[i] === b);
      return rows.reduce((s, i) => s + tb.features[i * tb.d + j], 0) / rows.length;
    };
    // The batch mean differences shrink by more than 90 % (not to 0: empirical Bayes shrinks each
    // feature's batch effect toward the mean batch effect over only 6 features).
    const gap = (tb: ProfileTable) => Array.from({ length: tb.d }, (_, f) => Math.abs(mean(tb, 'A', f) - mean(tb, 'B', f))).reduce((a, b) => a + b, 0);
    expect(gap(table)).toBeLessThan(0.1 * gap(t));
  });

  it('clusters unbalanced across batches: plain ComBat takes the composition for batch and leaves the batches apart; protecting the cluster column mixes them', () => {
    const t = twoBatches(6, { unbalanced: true, shiftOnly: true });
    const plain = neighbourShares(correctProfiles(t, { method: 'combat', groupBy: [], batch: ['Batch'] }).table, 10);
    const kept = neighbourShares(correctProfiles(t, { method: 'combat', groupBy: [], batch: ['Batch'], params: { covariates: ['Cluster'] } }).table, 10);
    expect(plain.otherBatch).toBeLessThan(0.1);
    expect(kept.otherBatch).toBeGreaterThan(0.3);
    expect(kept.sameCluster).toBeGreaterThan(0.95);
  });
});

describe('ComBat: bad input gets one clear message', () => {
  const t = twoBatches(7);
  it('a batch with one profile', () => {
    const one = { ...t, meta: { ...t.meta, Metadata_Batch: t.meta.Metadata_Batch.map((b, i) => (i === 0 ? 'lonely' : b)) } };
    expect(() => correctProfiles(one, { method: 'combat', groupBy: [], batch: ['Batch'] })).toThrow(/combat: batch "lonely" has 1 profile\(s\); ComBat estimates a variance per batch and needs at least 2/);
  });
  it('a missing batch column, NaN, fitting on controls, a confounded covariate', () => {
    expect(() => correctProfiles(t, { method: 'combat', groupBy: [], batch: ['Week'] })).toThrow(/Metadata column "Week" not found/);
    const nan = { ...t, features: Float32Array.from(t.features, (v, i) => (i === 7 ? NaN : v)) };
    expect(() => correctProfiles(nan, { method: 'combat', groupBy: [], batch: ['Batch'] })).toThrow(/Feature "f1" is NaN in row 2; a correction needs finite values/);
    expect(() => correctProfiles(t, { method: 'combat', groupBy: [], batch: ['Batch'], fitOn: 'controls' })).toThrow(/combat is fitted on all rows, not on controls/);
    expect(() => correctProfiles(t, { method: 'combat', groupBy: [], batch: ['Batch'], params: { covariates: ['Batch'] } })).toThrow(/confounded with batch/);
    expect(() => correctProfiles(t, { method: 'combat', groupBy: [], batch: ['Batch'], params: { thetaa: 1 } })).toThrow(/Invalid option\(s\) for the combat correction.*Known options: covariates, meanOnly, tolerance/);
  });
});
