import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { COPAIRS_AP, COPAIRS_MAP, lincsPlate } from './fixtures.ts';
import {
  averagePrecisionOf,
  buildRankLists,
  computeAveragePrecision,
  computeAveragePrecisionTable,
  computeMeanAveragePrecision,
  computeNullAveragePrecision,
} from '../../src/evaluation/map.ts';
import { findPairs, computePairSimilarities } from '../../src/evaluation/pairs.ts';
import { computeCosine } from '../../src/evaluation/similarity.ts';
import type { ProfileTable } from '../../src/tables/profile-table.ts';
import { Rng } from '../../src/util/rng.ts';

function readCsv(path: string): Record<string, string>[] {
  return parse(readFileSync(path), { columns: true }) as Record<string, string>[];
}

const KEYS = ['Metadata_broad_sample', 'Metadata_reference_index'];

describe('average precision (copairs v0.5.2 reference on LINCS SQ00015054)', async () => {
  const t = await lincsPlate();
  // Phenotypic activity against DMSO: each DMSO well is its own reference group.
  t.meta.Metadata_reference_index = t.meta.Metadata_broad_sample.map((b, i) => (b === 'DMSO' ? String(i) : '-1'));
  const apr = computeAveragePrecisionTable(t, {
    pos: { sameby: KEYS, diffby: [] },
    neg: { sameby: [], diffby: KEYS },
    similarity: 'cosine',
    nullSize: 100000,
    seed: 0,
  });

  it('reproduces every per-well AP, n_pos_pairs and n_total_pairs', () => {
    const ref = readCsv(COPAIRS_AP);
    expect(ref.length).toBe(360);
    const byWell = new Map(apr.rows.filter((r) => r.nPos > 0).map((r) => [t.meta.Metadata_Well[r.index], r]));
    expect(byWell.size).toBe(360);
    for (const row of ref) {
      const ours = byWell.get(row.Metadata_Well)!;
      expect(t.meta.Metadata_broad_sample[ours.index]).toBe(row.Metadata_broad_sample);
      expect(ours.ap).toBeCloseTo(Number(row.average_precision), 6);
      expect(ours.nPos).toBe(Number(row.n_pos_pairs));
      expect(ours.nTotal).toBe(Number(row.n_total_pairs));
    }
    const meanAp = [...byWell.values()].reduce((s, r) => s + r.ap, 0) / 360;
    expect(Math.abs(meanAp - 0.630571)).toBeLessThan(1e-4);
  });

  it('reproduces mAP per compound, p-values loosely and the fraction retrieved', () => {
    const ref = readCsv(COPAIRS_MAP);
    const m = computeMeanAveragePrecision(t, apr, KEYS, 0.05);
    expect(m.rows.length).toBe(58);
    expect(Math.abs(m.meanMap - 0.617832)).toBeLessThan(1e-4);
    const ours = new Map(m.rows.map((r) => [r.key[0], r]));
    for (const row of ref) {
      const r = ours.get(row.Metadata_broad_sample)!;
      expect(Math.abs(r.map - Number(row.mean_average_precision))).toBeLessThan(1e-4);
      // p-values come from random nulls (ours and copairs' differ): loose agreement only.
      const p = Number(row.p_value);
      expect(Math.abs(r.pValue - p)).toBeLessThan(0.003 + 0.15 * p);
      const cp = Number(row.corrected_p_value);
      expect(Math.abs(r.correctedPValue - cp)).toBeLessThan(0.005 + 0.15 * cp);
    }
    // 56.9 % of 58 compounds (33) have corrected p < 0.05 in copairs; borderline groups may flip.
    expect(Math.abs(m.fractionRetrieved * 58 - 33)).toBeLessThanOrEqual(2);
  });
});

/** Independent AP: each positive's precision at its rank, ranks counted pair by pair (ties: positives first). */
function naiveAp(keys: number[], labels: number[]): number {
  let sum = 0;
  let k = 0;
  for (let p = 0; p < keys.length; p++) {
    if (!labels[p]) continue;
    k++;
    let posAhead = 0;
    let negAhead = 0;
    for (let q = 0; q < keys.length; q++) {
      if (labels[q]) {
        if (keys[q] < keys[p] || (keys[q] === keys[p] && q <= p)) posAhead++;
      } else if (keys[q] < keys[p]) negAhead++;
    }
    sum += posAhead / (posAhead + negAhead);
  }
  return k ? sum / k : NaN;
}

describe('average precision against a brute-force reference', () => {
  it('relevance [1,0,1,0,0] gives 0.8333', () => {
    expect(averagePrecisionOf([1, 0, 1, 0, 0])).toBeCloseTo((1 + 2 / 3) / 2, 12);
  });

  it('matches a naive loop on random data with many tied similarities', () => {
    const rng = new Rng(7);
    for (let trial = 0; trial < 5; trial++) {
      const n = 40;
      const d = 3;
      // Tiny integer features: many exactly tied cosines.
      const features = Float32Array.from({ length: n * d }, () => rng.int(3) - 1 || 1);
      const t: ProfileTable = {
        n,
        d,
        features,
        featureNames: ['a', 'b', 'c'],
        meta: {
          Metadata_cpd: Array.from({ length: n }, () => String(rng.int(6))),
          Metadata_plate: Array.from({ length: n }, () => String(rng.int(3))),
        },
      };
      const pos = findPairs(t, { sameby: ['Metadata_cpd'], diffby: ['Metadata_plate'] });
      const neg = findPairs(t, { sameby: [], diffby: ['Metadata_cpd'] });
      const s = computeCosine(features, n, d);
      const lists = buildRankLists(pos, neg, computePairSimilarities(s, n, pos), computePairSimilarities(s, n, neg));
      const { ap } = computeAveragePrecision(lists);
      let checked = 0;
      lists.profiles.forEach((i, l) => {
        const keys: number[] = [];
        const labels: number[] = [];
        for (let j = 0; j < n; j++) {
          if (j === i) continue;
          const sameCpd = t.meta.Metadata_cpd[i] === t.meta.Metadata_cpd[j];
          const samePlate = t.meta.Metadata_plate[i] === t.meta.Metadata_plate[j];
          const label = sameCpd && !samePlate ? 1 : !sameCpd ? 0 : -1;
          if (label < 0) continue;
          keys.push(Math.fround(1 - Math.fround(s[i * n + j])));
          labels.push(label);
        }
        const ref = naiveAp(keys, labels);
        if (Number.isNaN(ref)) expect(ap[l]).toBeNaN();
        else {
          expect(ap[l]).toBeCloseTo(ref, 12);
          checked++;
        }
      });
      expect(checked).toBeGreaterThan(10);
    }
  });

  it('null AP distribution has the mean of random ranking (exact enumeration)', () => {
    const k = 2;
    const N = 5;
    let exact = 0;
    let count = 0;
    for (let a = 0; a < N; a++)
      for (let b = a + 1; b < N; b++) {
        exact += (1 / (a + 1) + 2 / (b + 1)) / 2;
        count++;
      }
    exact /= count;
    const nul = computeNullAveragePrecision(k, N, 200000, 3);
    const m = nul.reduce((s, v) => s + v, 0) / nul.length;
    expect(Math.abs(m - exact)).toBeLessThan(3e-3);
  });
});
