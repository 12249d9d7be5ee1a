import { describe, expect, it } from 'vitest';
import { aggregateProfiles } from '../../src/profiles/aggregate.ts';
import { buildProfiles, profileSteps } from '../../src/profiles/profiles.ts';
import type { ProfileTable } from '../../src/tables/profile-table.ts';

/** Two wells of plate 1: A01 (sites [3, 4], [0, 2]) and B01 (site [1, 0]); treatment x in both. */
const sites: ProfileTable = {
  n: 3,
  d: 2,
  featureNames: ['f0', 'f1'],
  features: Float32Array.from([3, 4, 0, 2, 1, 0]),
  meta: {
    Metadata_Plate: ['1', '1', '1'],
    Metadata_Well: ['A01', 'A01', 'B01'],
    Metadata_Site: ['1', '2', '1'],
    Metadata_Compound: ['x', 'x', 'x'],
  },
};

describe('aggregateProfiles (one implementation for embed, profiles and evaluate)', () => {
  it('l2-mean: the mean of unit-length profiles (Lin & Lu 2022), closed form', () => {
    const w = aggregateProfiles(sites, { by: ['Plate', 'Well'], method: 'l2-mean' });
    // [3,4]/5 = [0.6, 0.8], [0,2]/2 = [0, 1]: mean [0.3, 0.9]; B01: [1, 0].
    expect(Array.from(w.features)).toEqual([0.3, 0.9, 1, 0].map(Math.fround));
    expect(w.meta.Metadata_Count).toEqual(['2', '1']);
    expect(w.keyValue).toMatchObject({ aggregation: 'l2-mean', aggregated_by: 'Metadata_Plate,Metadata_Well' });
  });

  it('varying columns are dropped (pycytominer strata) or joined; a consensus replaces the count column', () => {
    const w = aggregateProfiles(sites, { by: ['Plate', 'Well'] });
    expect(Object.keys(w.meta)).toEqual(['Metadata_Plate', 'Metadata_Well', 'Metadata_Compound', 'Metadata_Count']);
    const joined = aggregateProfiles(w, { by: ['Compound'], varying: 'join' });
    expect(joined.meta).toEqual({ Metadata_Plate: ['1'], Metadata_Well: ['A01;B01'], Metadata_Compound: ['x'], Metadata_Count: ['2'] });
    expect(Array.from(joined.features)).toEqual([(1.5 + 1) / 2, (3 + 0) / 2]);
  });

  it('buildProfiles records each step in the key-value metadata, after any earlier ones', () => {
    const { table, steps } = buildProfiles(sites, { aggregate: { by: ['Plate', 'Well'] }, consensus: { by: ['Compound'] } });
    expect(steps).toEqual([
      { step: 'aggregate', by: ['Metadata_Plate', 'Metadata_Well'], method: 'mean', rowsIn: 3, rowsOut: 2 },
      { step: 'consensus', by: ['Metadata_Compound'], method: 'median', rowsIn: 2, rowsOut: 1 },
    ]);
    expect(profileSteps(table)).toEqual(steps);
    expect(table.keyValue).not.toHaveProperty('aggregation');
    const again = buildProfiles(table, { consensus: { by: ['Compound'], method: 'mean' } });
    expect(profileSteps(again.table).map((s) => s.step)).toEqual(['aggregate', 'consensus', 'consensus']);
  });

  it('names a missing group column and the known ones', () => {
    expect(() => aggregateProfiles(sites, { by: ['Plate', 'Wel'] })).toThrow(/Metadata column "Wel" not found. Available: Metadata_Plate/);
  });
});
