/**
 * The scoring of one dose-response arm (evaluation/dose-arms.ts) on a simulated 96-well
 * plate laid out like BBBC013 (doses 1..9 in columns 03-11, controls in 01, 02 and 12): observed
 * scores, the column-shuffled control, and the table.
 */
import { describe, expect, it } from 'vitest';
import { doseResponseMarkdown, scoreArm, wellRow } from '../../src/evaluation/dose-arms.ts';
import type { ProfileTable } from '../../src/tables/profile-table.ts';
import { Rng } from '../../src/util/rng.ts';

/** BBBC013's layout; the response to dose rises as a sigmoid (EC50 at dose 5) along feature 0. */
function plate(seed: number, effect: number): ProfileTable {
  const rng = new Rng(seed);
  const meta: Record<string, string[]> = { Metadata_Plate: [], Metadata_Well: [], Metadata_Label: [], Metadata_WellType: [] };
  const feats: number[] = [];
  for (const row of 'ABCDEFGH') {
    const top = 'ABCD'.includes(row);
    for (let c = 1; c <= 12; c++) {
      const type = c === 2 || (c === 1 && top) || (c === 12 && !top) ? 'negative_control' : c === 1 || c === 12 ? 'positive_control' : 'treatment';
      const dose = type === 'negative_control' ? 0 : type === 'positive_control' ? 10 : c - 2;
      meta.Metadata_Plate.push('p');
      meta.Metadata_Well.push(`${row}${String(c).padStart(2, '0')}`);
      meta.Metadata_Label.push(String(dose));
      meta.Metadata_WellType.push(type);
      const response = 1 / (1 + Math.exp(-(dose - 5)));
      for (let j = 0; j < 8; j++) feats.push((j === 0 ? effect * response : 0) + 0.3 * rng.normal());
    }
  }
  return { n: 96, d: 8, meta, featureNames: Array.from({ length: 8 }, (_, j) => `f${j}`), features: Float32Array.from(feats) };
}

const opts = { dose: 'Metadata_Label', controlColumn: 'Metadata_WellType', negative: 'negative_control', positive: 'positive_control', projection: 'lda' as const, shuffles: 8, nullSize: 500, seed: 0 };

describe('dose-response stage scoring', () => {
  it('a dose-driven signal: high Spearman and Z\' observed, Spearman near 0 and Z\' far lower when the labels are shuffled within rows', () => {
    const r = scoreArm(plate(1, 4), opts);
    expect(r.wells).toBe(96);
    expect(r.perDose.map((d) => d.dose)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(r.observed.spearman).toBeGreaterThan(0.8);
    expect(r.observed.zPrime).toBeGreaterThan(0.3);
    expect(r.separation.pos.n).toBe(8);
    expect(r.separation.neg.n).toBe(16);
    expect(r.shuffled!.permutations).toBe(8);
    expect(Math.abs(r.shuffled!.mean.spearman)).toBeLessThan(0.5);
    expect(r.shuffled!.median.zPrime).toBeLessThan(r.observed.zPrime - 1);
    expect(r.permutationP!.spearman).toBeLessThan(0.2);
    const md = doseResponseMarkdown([{ ...r, name: 'x', label: 'X', features: 8 }], 9).trim().split('\n');
    expect(md).toHaveLength(4);
    expect(md[2]).toMatch(/^\| X \| [\d.]+ \| \d \/ 9 \| [\d.-]+ \| [\d.-]+ \|$/);
    expect(md[3]).toMatch(/^\| X, column-shuffled \(8 permutations\) \| [\d.]+ ± [\d.]+ \| [\d.]+ \/ 9 \| [\d.-]+ ± [\d.]+ \| median [\d.-]+ \|$/);
  });

  it('no signal: no dose trend and no control separation', () => {
    const r = scoreArm(plate(2, 0), opts);
    expect(r.observed.zPrime).toBeLessThan(0);
    expect(r.observed.fractionSignificant).toBeLessThan(0.5);
  });

  it('plate rows from well names', () => {
    expect(wellRow('B07')).toBe('B');
    expect(wellRow('AA12')).toBe('AA');
    expect(wellRow('12')).toBe('12');
  });
});
