import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { correctProfiles } from '../../src/profiles/correct.ts';
import type { ProfileTable } from '../../src/tables/profile-table.ts';

/** Fixture of test/profiles/corrections_reference.py (numpy: standardise on the fit rows, R^(-1/2) with eigenvalues floored at 1e-6). */
const ref = JSON.parse(readFileSync(new URL('../fixtures/sphering-reference.json', import.meta.url), 'utf8')) as { n: number; d: number; x: number[]; cases: { name: string; fit: boolean[]; out: number[] }[] };

const table = (fit: boolean[]): ProfileTable => ({
  n: ref.n,
  d: ref.d,
  features: Float32Array.from(ref.x),
  featureNames: Array.from({ length: ref.d }, (_, j) => `f${j}`),
  meta: { Metadata_Type: fit.map((f) => (f ? 'ctl' : 'trt')), Metadata_Plate: fit.map((_, i) => `P${Math.floor(i / 40)}`) },
});

describe('sphering (ZCA-cor, pycytominer Spherize) against the numpy reference', () => {
  for (const c of ref.cases) {
    it(`${c.name} fit rows: values within 1e-6 (relative), pooled over the plates`, () => {
      // The reference works on the float32 values the table holds.
      const { table: out, step } = correctProfiles(table(c.fit), { method: 'sphering', groupBy: [], controls: { column: 'Type', value: 'ctl' } });
      expect(step).toMatchObject({ method: 'sphering', groups: 1, fitOn: 'controls' });
      let worst = 0;
      for (let i = 0; i < ref.n * ref.d; i++) worst = Math.max(worst, Math.abs(out.features[i] - c.out[i]) / Math.max(1, Math.abs(c.out[i])));
      // Same float32 inputs; the output is stored as float32 (relative precision 6e-8).
      expect(worst).toBeLessThan(1e-6);
      if (c.name === 'few') expect(step.warnings?.[0]).toMatch(/sphering: 1 of 1 group\(s\) fit a correlation matrix on fewer rows \(4\) than the 6 features.*up to 1 \/ sqrt\(epsilon\) = 1000/);
      else {
        expect(step.warnings ?? []).toEqual([]);
        // On the fit rows the result is white: identity correlation.
        const rows = c.fit.flatMap((f, i) => (f ? [i] : []));
        for (let a = 0; a < ref.d; a++)
          for (let b = 0; b < ref.d; b++) {
            let s = 0;
            for (const i of rows) s += out.features[i * ref.d + a] * out.features[i * ref.d + b];
            expect(s / rows.length).toBeCloseTo(a === b ? 1 : 0, 4);
          }
      }
    });
  }
  it('per plate when a plate column is given', () => {
    const c = ref.cases[0];
    const { step } = correctProfiles(table(c.fit), { method: 'sphering', groupBy: ['Plate'], controls: { column: 'Type', value: 'ctl' } });
    expect(step.groups).toBe(2);
  });
});
