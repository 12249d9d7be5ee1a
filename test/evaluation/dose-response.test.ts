/**
 * Dose response (evaluation/dose-response.ts): activity mAP per group against copairs v0.5.2's own
 * numbers on the LINCS plate, per-dose mAP against a naive ranking loop on a simulated plate map,
 * Spearman against scipy's value, and the within-block permutation.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { computeDoseResponse, permuteWithin } from '../../src/evaluation/dose-response.ts';
import { metrics, parseMetricOptions } from '../../src/evaluation/metric.ts';
import '../../src/evaluation/metrics.ts';
import type { ProfileTable } from '../../src/tables/profile-table.ts';
import { spearmanCorrelation } from '../../src/util/stats.ts';
import { Rng } from '../../src/util/rng.ts';
import { COPAIRS_MAP, lincsPlate } from './fixtures.ts';

const NEG = { column: 'Metadata_WellType', value: 'negative_control' };
const POS = { column: 'Metadata_WellType', value: 'positive_control' };

/** A plate map: 8 rows x (2 negative columns, doses 1..4 in columns 3..6, 1 positive column). */
function plate(seed: number): ProfileTable {
  const rng = new Rng(seed);
  const rows = 'ABCDEFGH';
  const meta: Record<string, string[]> = { Metadata_Well: [], Metadata_Dose: [], Metadata_WellType: [], Metadata_Plate: [] };
  const feats: number[] = [];
  const d = 6;
  for (const r of rows) {
    for (let c = 1; c <= 7; c++) {
      const dose = c <= 2 ? 0 : c === 7 ? 5 : c - 2;
      meta.Metadata_Well.push(`${r}${String(c).padStart(2, '0')}`);
      meta.Metadata_Dose.push(String(dose));
      meta.Metadata_WellType.push(c <= 2 ? 'negative_control' : c === 7 ? 'positive_control' : 'treatment');
      meta.Metadata_Plate.push('P1');
      // The effect grows with the dose along one direction; noise elsewhere.
      for (let j = 0; j < d; j++) feats.push((j === 0 ? 0.6 * dose : 0) + rng.normal() + (j === 1 ? 3 : 0));
    }
  }
  return { n: meta.Metadata_Well.length, d, meta, featureNames: Array.from({ length: d }, (_, j) => `f${j}`), features: Float32Array.from(feats) };
}

function cosine(t: ProfileTable, i: number, j: number): number {
  let s = 0, a = 0, b = 0;
  for (let k = 0; k < t.d; k++) {
    const x = t.features[i * t.d + k], y = t.features[j * t.d + k];
    s += x * y;
    a += x * x;
    b += y * y;
  }
  return s / Math.sqrt(a * b);
}

/** Naive activity mAP of one dose: each well ranks its dose-mates (positives) and every negative control by cosine. */
function naiveDoseMap(t: ProfileTable, dose: string): number {
  const members = t.meta.Metadata_Dose.map((v, i) => (v === dose && t.meta.Metadata_WellType[i] === 'treatment' ? i : -1)).filter((i) => i >= 0);
  const negs = t.meta.Metadata_WellType.map((v, i) => (v === 'negative_control' ? i : -1)).filter((i) => i >= 0);
  let sum = 0;
  for (const q of members) {
    const cand = [...members.filter((m) => m !== q).map((m) => ({ s: Math.fround(1 - Math.fround(cosine(t, q, m))), pos: 1 })), ...negs.map((m) => ({ s: Math.fround(1 - Math.fround(cosine(t, q, m))), pos: 0 }))];
    cand.sort((x, y) => x.s - y.s || y.pos - x.pos);
    let tp = 0, ap = 0;
    cand.forEach((c, r) => {
      if (c.pos) ap += ++tp / (r + 1);
    });
    sum += ap / tp;
  }
  return sum / members.length;
}

describe('dose response', () => {
  it('Spearman: average ranks for ties, as scipy.stats.spearmanr', () => {
    // scipy.stats.spearmanr([1,2,3,4,5], [0.1,0.4,0.3,0.9,0.9]).statistic = 0.8720815992723809
    expect(spearmanCorrelation([1, 2, 3, 4, 5], [0.1, 0.4, 0.3, 0.9, 0.9])).toBeCloseTo(0.8720815992723809, 12);
    expect(spearmanCorrelation([1, 2, 3], [3, 2, 1])).toBeCloseTo(-1, 12);
    expect(spearmanCorrelation([1, 2, 3], [1, 1, 1])).toBeNaN();
  });

  it('per-dose activity mAP equals a naive ranking loop; Spearman over doses; positive controls apart', async () => {
    const t = plate(1);
    const r = computeDoseResponse(t, { dose: 'Dose', negative: NEG, positive: POS, nullSize: 2000 });
    expect(r.perDose.map((x) => x.dose)).toEqual([1, 2, 3, 4]);
    for (const x of r.perDose) {
      expect(x.wells).toBe(8);
      expect(x.map).toBeCloseTo(naiveDoseMap(t, String(x.dose)), 6);
    }
    expect(r.meanMap).toBeCloseTo(r.perDose.reduce((s, x) => s + x.map, 0) / 4, 12);
    expect(r.spearman).toBeCloseTo(spearmanCorrelation([1, 2, 3, 4], r.perDose.map((x) => x.map)), 12);
    expect(r.spearman).toBeGreaterThan(0.7);
    // The strongest doses are retrieved; the fractions count doses under 0.05.
    expect(r.perDose[3].correctedPValue).toBeLessThan(0.05);
    expect(r.fractionBelowCorrectedP).toBe(r.perDose.filter((x) => x.correctedPValue < 0.05).length / 4);
    expect(r.fractionBelowP).toBe(r.perDose.filter((x) => x.pValue < 0.05).length / 4);
    expect(r.positiveControl!.wells).toBe(8);
    expect(r.positiveControl!.map).toBeGreaterThan(r.perDose[0].map);
    // The registered metric reports the same numbers.
    const m = await metrics.get('dose-response').compute({ table: t, columns: { control: NEG, positiveControl: POS, dose: 'Dose' }, seed: 0, options: parseMetricOptions(metrics.get('dose-response'), { nullSize: 2000 }) });
    expect(m.summary.mean_map).toBeCloseTo(r.meanMap, 12);
    expect(m.summary.spearman).toBeCloseTo(r.spearman, 12);
    expect(m.tables.per_dose).toHaveLength(4);
  });

  it('a non-numeric dose is refused with the column named', () => {
    const t = plate(2);
    const bad = { ...t, meta: { ...t.meta, Metadata_Dose: t.meta.Metadata_Dose.map((v) => (v === '3' ? 'high' : v)) } };
    expect(() => computeDoseResponse(bad, { dose: 'Dose', negative: NEG, nullSize: 100 })).toThrow(/Metadata_Dose holds "high", not a number/);
  });

  it('reproduces copairs v0.5.2 activity mAP per group on the LINCS plate (a numeric code per compound as the "dose")', async () => {
    const t = await lincsPlate();
    const samples = [...new Set(t.meta.Metadata_broad_sample)].filter((s) => s !== 'DMSO').sort();
    const code = new Map(samples.map((s, i) => [s, String(i + 1)]));
    const coded = { ...t, meta: { ...t.meta, Metadata_Code: t.meta.Metadata_broad_sample.map((s) => (s === 'DMSO' ? '0' : code.get(s)!)) } };
    const r = computeDoseResponse(coded, { dose: 'Code', negative: { column: 'broad_sample', value: 'DMSO' }, nullSize: 20000 });
    const ref = parse(readFileSync(COPAIRS_MAP), { columns: true }) as Record<string, string>[];
    expect(r.perDose).toHaveLength(58);
    const byCode = new Map(r.perDose.map((x) => [String(x.dose), x]));
    for (const row of ref) {
      const x = byCode.get(code.get(row.Metadata_broad_sample)!)!;
      expect(Math.abs(x.map - Number(row.mean_average_precision))).toBeLessThan(1e-4);
      const p = Number(row.p_value);
      expect(Math.abs(x.pValue - p)).toBeLessThan(0.005 + 0.2 * p);
    }
    expect(Math.abs(r.meanMap - 0.617832)).toBeLessThan(1e-4);
  });

  it('permuteWithin keeps each block\'s labels, moves them between its rows only, and is seeded', () => {
    const t = { ...plate(3), meta: { ...plate(3).meta } };
    t.meta.Metadata_Row = t.meta.Metadata_Well.map((w) => w[0]);
    t.meta.Metadata_Role = t.meta.Metadata_WellType.map((w) => (w === 'treatment' ? 'treated' : 'control'));
    const a = permuteWithin(t, ['Dose', 'WellType'], ['Row', 'Role'], 5);
    const b = permuteWithin(t, ['Dose', 'WellType'], ['Row', 'Role'], 5);
    const c = permuteWithin(t, ['Dose', 'WellType'], ['Row', 'Role'], 6);
    expect(a.meta.Metadata_Dose).toEqual(b.meta.Metadata_Dose);
    expect(a.meta.Metadata_Dose).not.toEqual(c.meta.Metadata_Dose);
    expect(a.meta.Metadata_Dose).not.toEqual(t.meta.Metadata_Dose);
    expect(a.meta.Metadata_Well).toEqual(t.meta.Metadata_Well);
    expect(a.features).toBe(t.features);
    for (const row of 'ABCDEFGH') {
      for (const role of ['treated', 'control']) {
        const idx = t.meta.Metadata_Row.map((r, i) => (r === row && t.meta.Metadata_Role[i] === role ? i : -1)).filter((i) => i >= 0);
        const pairs = (m: ProfileTable['meta']) => idx.map((i) => `${m.Metadata_Dose[i]}/${m.Metadata_WellType[i]}`).sort();
        expect(pairs(a.meta)).toEqual(pairs(t.meta));
      }
    }
    // Controls stay controls (the role is part of the block), so the input table is untouched too.
    expect(a.meta.Metadata_WellType.filter((w) => w === 'treatment')).toHaveLength(32);
    expect(t.meta.Metadata_Dose.slice(0, 7)).toEqual(['0', '0', '1', '2', '3', '4', '5']);
  });
});
