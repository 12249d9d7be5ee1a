import { describe, expect, it } from 'vitest';
import { sampleRows, umapProfiles } from '../../src/report/umap.ts';
import { syntheticProfiles } from './fixtures.ts';

/** Mean fraction of each point's k nearest 2-D neighbours that share its label (brute force). */
function neighbourPurity(xy: Float32Array, labels: string[], k: number): number {
  const m = labels.length;
  let total = 0;
  for (let i = 0; i < m; i++) {
    const d = Array.from({ length: m }, (_, j) => ({ j, d: (xy[2 * i] - xy[2 * j]) ** 2 + (xy[2 * i + 1] - xy[2 * j + 1]) ** 2 }))
      .filter((e) => e.j !== i)
      .sort((a, b) => a.d - b.d)
      .slice(0, k);
    total += d.filter((e) => labels[e.j] === labels[i]).length / k;
  }
  return total / m;
}

describe('sampleRows', () => {
  it('keeps every row under the cap and draws a sorted seeded subset over it', () => {
    expect(Array.from(sampleRows(5, 10, 0))).toEqual([0, 1, 2, 3, 4]);
    const s = sampleRows(1000, 100, 7);
    expect(s.length).toBe(100);
    expect(new Set(s).size).toBe(100);
    for (let i = 1; i < s.length; i++) expect(s[i]).toBeGreaterThan(s[i - 1]);
    expect(Array.from(sampleRows(1000, 100, 7))).toEqual(Array.from(s));
    expect(Array.from(sampleRows(1000, 100, 8))).not.toEqual(Array.from(s));
  });
});

describe('umapProfiles', () => {
  const mixed = syntheticProfiles({ plates: 4, labels: 4, perCell: 10, d: 16, plateEffect: 0, seed: 2 });
  const separated = syntheticProfiles({ plates: 4, labels: 4, perCell: 10, d: 16, plateEffect: 4, seed: 2 });

  it('is deterministic for a seed and changes with it', () => {
    const a = umapProfiles(mixed, { seed: 1 });
    const b = umapProfiles(mixed, { seed: 1 });
    const c = umapProfiles(mixed, { seed: 2 });
    expect(Array.from(a.xy)).toEqual(Array.from(b.xy));
    expect(Array.from(a.xy)).not.toEqual(Array.from(c.xy));
    expect(a.xy.length).toBe(2 * mixed.n);
    expect(a.xy.every(Number.isFinite)).toBe(true);
  });

  it('keeps plates apart when the features carry a plate effect and mixes them when not', () => {
    const k = 5;
    const um = umapProfiles(mixed, { seed: 0 });
    const us = umapProfiles(separated, { seed: 0 });
    const pm = neighbourPurity(um.xy, mixed.meta.Metadata_Plate, k);
    const ps = neighbourPurity(us.xy, separated.meta.Metadata_Plate, k);
    // Chance level is 1/4 (4 plates of equal size); separated plates give ~1.
    expect(ps).toBeGreaterThan(0.9);
    expect(pm).toBeLessThan(0.5);
    // Treatments stay apart in both.
    expect(neighbourPurity(um.xy, mixed.meta.Metadata_Label, k)).toBeGreaterThan(0.9);
  });

  it('embeds only the sampled rows when the table is larger than maxPoints', () => {
    const u = umapProfiles(mixed, { seed: 0, maxPoints: 50 });
    expect(u.rows.length).toBe(50);
    expect(u.xy.length).toBe(100);
  });

  it('handles tiny tables without a neighbour graph', () => {
    const t = syntheticProfiles({ plates: 1, labels: 1, perCell: 2, d: 4, plateEffect: 0 });
    expect(Array.from(umapProfiles(t).xy)).toEqual([0, 0, 0, 0]);
  });
});
