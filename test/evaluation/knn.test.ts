import { describe, expect, it } from 'vitest';
import { GALLERY } from './fixtures.ts';
import { loadBbbc021Gallery } from '../../src/datasets/bbbc021.ts';
import { correctProfiles } from '../../src/profiles/correct.ts';
import { aggregateProfiles } from '../../src/profiles/aggregate.ts';
import { computeKnnAccuracy, voteLabel } from '../../src/evaluation/knn.ts';
import { searchNearestJs } from '../../src/evaluation/topk.ts';
import { unitRows } from '../../src/util/unit-rows.ts';
import type { ProfileTable } from '../../src/tables/profile-table.ts';
import { Rng } from '../../src/util/rng.ts';

/** Brute force: all scores in float64, sorted descending, ties by lower index. */
function bruteForce(q: Float32Array, r: Float32Array, d: number, k: number, skip: (i: number, j: number) => boolean) {
  const nq = q.length / d;
  const nr = r.length / d;
  const out: number[][] = [];
  for (let i = 0; i < nq; i++) {
    const s: { j: number; v: number }[] = [];
    for (let j = 0; j < nr; j++) {
      if (skip(i, j)) continue;
      let acc = 0;
      for (let t = 0; t < d; t++) acc += q[i * d + t] * r[j * d + t];
      s.push({ j, v: Math.fround(acc) });
    }
    s.sort((a, b) => b.v - a.v || a.j - b.j);
    out.push(s.slice(0, k).map((x) => x.j));
  }
  return out;
}

describe('exact top-k search', () => {
  it('matches brute force, with exclusions and tied scores', () => {
    const rng = new Rng(3);
    const d = 8;
    const nq = 300;
    const nr = 700;
    // Small integers: many tied similarities.
    const q = unitRows(Float32Array.from({ length: nq * d }, () => rng.int(3) - 1), d);
    const r = unitRows(Float32Array.from({ length: nr * d }, () => rng.int(3) - 1), d);
    const gq = Int32Array.from({ length: nq }, () => rng.int(5));
    const gr = Int32Array.from({ length: nr }, () => rng.int(5));
    const k = 7;
    const nb = searchNearestJs(q, r, d, { k, exclude: [{ query: gq, ref: gr }] });
    const ref = bruteForce(q, r, d, k, (i, j) => gq[i] === gr[j]);
    for (let i = 0; i < nq; i++) expect(Array.from(nb.indices.subarray(i * k, (i + 1) * k))).toEqual(ref[i]);
  });

  it('votes by majority (ties: summed similarity) or by weighted similarity', () => {
    expect(voteLabel(['a', 'b', 'b'], [0.9, 0.5, 0.3], 'majority')).toBe('b');
    expect(voteLabel(['a', 'b', 'b'], [0.9, 0.5, 0.3], 'weighted')).toBe('a');
    expect(voteLabel(['a', 'b'], [0.9, 0.5], 'majority')).toBe('a');
  });

  it('excludes the same well / plate and averages per treatment', async () => {
    // Two sites per well; a site's twin is its nearest neighbour unless the same well is excluded.
    const rng = new Rng(9);
    const d = 6;
    const rows: number[][] = [];
    const meta = { Metadata_Plate: [] as string[], Metadata_Well: [] as string[], Metadata_Label: [] as string[] };
    for (let w = 0; w < 8; w++) {
      const base = Array.from({ length: d }, () => rng.normal());
      for (let s = 0; s < 2; s++) {
        rows.push(base.map((v) => v + 0.01 * rng.normal()));
        meta.Metadata_Plate.push(`P${w % 2}`);
        meta.Metadata_Well.push(`W${w}`);
        meta.Metadata_Label.push(`L${w}`);
      }
    }
    const t: ProfileTable = { n: 16, d, features: Float32Array.from(rows.flat()), featureNames: [], meta };
    const loose = await computeKnnAccuracy(t, { label: 'Label' });
    expect(loose.accuracy).toBe(1);
    const sameWell = await computeKnnAccuracy(t, { label: 'Label', excludeSame: [['Plate', 'Well']] });
    // Every label lives in one well only: unreachable once the well is excluded.
    expect(sameWell.nQueries).toBe(0);
    expect(sameWell.nWithoutNeighbor).toBe(16);
    const plate = await computeKnnAccuracy(t, { label: 'Plate', excludeSame: [['Plate', 'Well']] });
    expect(plate.nQueries).toBe(16);
    const perWell = aggregateProfiles(t, { by: ['Plate', 'Well'] });
    expect(perWell.n).toBe(8);
    expect(perWell.features[0]).toBeCloseTo((rows[0][0] + rows[1][0]) / 2, 6);
  });
});

describe('BBBC021 raw per-well means (Ljosa et al. 2013, cytominergallery)', async () => {
  const { table } = await loadBbbc021Gallery(GALLERY);

  it('joins 632 MoA-annotated wells x 516 features on 55 plates', () => {
    expect(table.n).toBe(632);
    expect(table.d).toBe(516);
    expect(new Set(table.meta.Metadata_Plate).size).toBe(55);
    expect(table.meta.Metadata_Compound.filter((c) => c === 'DMSO').length).toBe(330);
    expect(new Set(table.meta.Metadata_Batch).size).toBe(10);
  });

  it('NSC MoA accuracy after per-plate DMSO standardisation and per-treatment means is the published 0.82 (CI 0.73-0.89)', async () => {
    const { table: z } = correctProfiles(table, { method: 'standardize', groupBy: ['Plate'], controls: { column: 'Compound', value: 'DMSO' } });
    const tr = aggregateProfiles(z, { by: ['Treatment'], varying: 'join' });
    const isDmso = (i: number) => tr.meta.Metadata_Compound[i] === 'DMSO';
    const nsc = await computeKnnAccuracy(tr, { label: 'moa', excludeSame: [['Compound']], skipRows: isDmso });
    expect(nsc.nQueries).toBe(103);
    // Published: 84 of 103 (0.82, 95 % CI 0.73-0.89); a loose check, normalization details differ.
    expect(nsc.accuracy).toBeGreaterThanOrEqual(0.73);
    expect(nsc.accuracy).toBeLessThanOrEqual(0.89);
    const nscb = await computeKnnAccuracy(tr, { label: 'moa', excludeSame: [['Compound'], ['Batch']], skipRows: isDmso });
    // Two MoAs have all their compounds in one week: 92 treatments remain.
    expect(nscb.nQueries).toBe(92);
    expect(nscb.accuracy).toBeLessThan(nsc.accuracy);
  });
});
