import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aggregateProfiles } from '../../src/profiles/aggregate.ts';
import { exportProfiles, wellPathFor } from '../../src/embedding/export.ts';
import type { ProfileTable } from '../../src/tables/profile-table.ts';
import { makeTable, readWithDuckDB } from './helpers.ts';

/** Naive reference: for each well (in first-appearance order), filter its rows and reduce each feature. */
function naiveAggregate(t: ProfileTable, method: 'mean' | 'median'): { keys: string[]; feats: number[][] } {
  const keyOf = (i: number) => `${t.meta.Metadata_Experiment[i]}/${t.meta.Metadata_Plate[i]}/${t.meta.Metadata_Well[i]}`;
  const keys: string[] = [];
  for (let i = 0; i < t.n; i++) if (!keys.includes(keyOf(i))) keys.push(keyOf(i));
  const feats = keys.map((k) => {
    const rows = [...Array(t.n).keys()].filter((i) => keyOf(i) === k);
    return [...Array(t.d).keys()].map((j) => {
      const v = rows.map((i) => t.features[i * t.d + j]).sort((a, b) => a - b);
      if (method === 'mean') return v.reduce((a, b) => a + b, 0) / v.length;
      const h = Math.floor(v.length / 2);
      return v.length % 2 ? v[h] : (v[h - 1] + v[h]) / 2;
    });
  });
  return { keys, feats };
}

describe('aggregateProfiles', () => {
  it('closed form: mean and median of one well with 4 sites, varying columns dropped', () => {
    const t: ProfileTable = {
      n: 4, d: 1, featureNames: ['emb_0000'], features: Float32Array.from([1, 2, 3, 10]),
      meta: {
        Metadata_Experiment: ['E', 'E', 'E', 'E'], Metadata_Plate: ['1', '1', '1', '1'], Metadata_Well: ['A01', 'A01', 'A01', 'A01'],
        Metadata_Site: ['1', '2', '3', '4'], Metadata_Label: ['x', 'x', 'x', 'x'],
      },
    };
    const mean = aggregateProfiles(t, { method: 'mean' });
    expect(Array.from(mean.features)).toEqual([4]);
    expect(mean.meta).toEqual({ Metadata_Experiment: ['E'], Metadata_Plate: ['1'], Metadata_Well: ['A01'], Metadata_Label: ['x'], Metadata_Count: ['4'] });
    expect(Array.from(aggregateProfiles(t, { method: 'median' }).features)).toEqual([2.5]);
  });

  for (const method of ['mean', 'median'] as const) {
    it(`${method} per [experiment, plate, well] matches a naive loop`, () => {
      // Uneven group sizes: drop some rows so wells hold 1 or 2 sites, and shuffle the order.
      const full = makeTable({ plates: 3, wells: 9, d: 6, seed: 11 });
      const keep = [...Array(full.n).keys()].filter((i) => i % 5 !== 3).reverse();
      const t: ProfileTable = {
        ...full,
        n: keep.length,
        meta: Object.fromEntries(Object.entries(full.meta).map(([k, v]) => [k, keep.map((i) => v[i])])),
        features: Float32Array.from(keep.flatMap((i) => Array.from(full.features.subarray(i * 6, i * 6 + 6)))),
      };
      const got = aggregateProfiles(t, { method });
      const ref = naiveAggregate(t, method);
      expect(got.n).toBe(ref.keys.length);
      expect(got.n).toBe(27);
      for (let g = 0; g < got.n; g++) {
        expect(`${got.meta.Metadata_Experiment[g]}/${got.meta.Metadata_Plate[g]}/${got.meta.Metadata_Well[g]}`).toBe(ref.keys[g]);
        for (let j = 0; j < 6; j++) expect(got.features[g * 6 + j]).toBeCloseTo(ref.feats[g][j], 6);
      }
      expect(Object.keys(got.meta)).not.toContain('Metadata_Site');
      expect(got.meta.Metadata_Count.filter((c) => c === '1').length).toBeGreaterThan(0);
    });
  }
});

describe('exportProfiles', () => {
  it('writes the per-image file and the well file that DuckDB reads', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ben-exp-'));
    const t = makeTable({ plates: 2, wells: 5, d: 3, seed: 5 });
    const path = join(dir, 'emb.parquet');
    const s = await exportProfiles(path, t, { aggregate: 'median', keyValue: { normalization: 'controls' } });
    expect(s.wells?.path).toBe(join(dir, 'emb.wells.parquet'));
    expect(wellPathFor(path)).toBe(s.wells?.path);
    const img = await readWithDuckDB(path);
    const wells = await readWithDuckDB(s.wells!.path);
    expect(img.rows.length).toBe(20);
    expect(wells.rows.length).toBe(10);
    expect(wells.columns.map((c) => c.name)).toEqual([
      'Metadata_Experiment', 'Metadata_Plate', 'Metadata_Well', 'Metadata_CellType', 'Metadata_Label',
      'Metadata_WellType', 'Metadata_Split', 'Metadata_Count', 'emb_0000', 'emb_0001', 'emb_0002',
    ]);
    // Two sites per well: the median is the mean of the two, rounded to float32.
    expect(wells.rows[0].slice(8)).toEqual([0, 1, 2].map((j) => Math.fround((t.features[j] + t.features[3 + j]) / 2)));
    expect(wells.kv).toMatchObject({ model: 'm1', normalization: 'controls', aggregation: 'median' });
  });
});
