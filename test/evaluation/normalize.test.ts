import { describe, expect, it } from 'vitest';
import { applyTvn, normalizePerPlate } from '../../src/evaluation/normalize.ts';
import { symmetricEigen } from '../../src/evaluation/linalg.ts';
import type { ProfileTable } from '../../src/evaluation/profile-table.ts';
import { Rng } from '../../src/util/rng.ts';

/** Two plates, correlated features, a per-plate offset and scale (the batch effect). */
function plateMap(seed: number): ProfileTable {
  const rng = new Rng(seed);
  const d = 4;
  const rows: number[] = [];
  const meta = { Metadata_Plate: [] as string[], Metadata_Type: [] as string[] };
  for (let p = 0; p < 2; p++) {
    for (let i = 0; i < 40; i++) {
      const a = rng.normal();
      const b = rng.normal();
      const v = [a, a + 0.3 * b, rng.normal(), 2 * b];
      rows.push(...v.map((x, j) => (p + 1) * x + 5 * p + j));
      meta.Metadata_Plate.push(`P${p}`);
      meta.Metadata_Type.push(i < 20 ? 'ctl' : 'trt');
    }
  }
  return { n: 80, d, features: Float32Array.from(rows), featureNames: ['a', 'b', 'c', 'd'], meta };
}

function controlStats(t: ProfileTable, plate: string) {
  const rows = [...Array(t.n).keys()].filter((i) => t.meta.Metadata_Plate[i] === plate && t.meta.Metadata_Type[i] === 'ctl');
  const d = t.d;
  const mean = new Float64Array(d);
  for (const i of rows) for (let j = 0; j < d; j++) mean[j] += t.features[i * d + j] / rows.length;
  const cov = new Float64Array(d * d);
  for (const i of rows)
    for (let a = 0; a < d; a++)
      for (let b = 0; b < d; b++) cov[a * d + b] += ((t.features[i * d + a] - mean[a]) * (t.features[i * d + b] - mean[b])) / (rows.length - 1);
  return { mean, cov };
}

describe('post-hoc batch correction baselines', () => {
  const controls = { column: 'Type', value: 'ctl' };

  it('per-plate standardisation centres and scales each plate on its controls', () => {
    const { table } = normalizePerPlate(plateMap(1), { plate: 'Plate', controls });
    for (const p of ['P0', 'P1']) {
      const { mean, cov } = controlStats(table, p);
      for (let j = 0; j < 4; j++) {
        expect(mean[j]).toBeCloseTo(0, 5);
        expect(cov[j * 4 + j]).toBeCloseTo(1, 5);
      }
    }
    const robust = normalizePerPlate(plateMap(1), { plate: 'Plate', controls, method: 'mad_robustize' }).table;
    expect(robust.features[0]).not.toBeCloseTo(table.features[0], 3);
  });

  it('symmetric eigen-decomposition reconstructs the matrix', () => {
    const rng = new Rng(2);
    const d = 6;
    const b = Array.from({ length: d * d }, () => rng.normal());
    const m = new Float64Array(d * d);
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) for (let k = 0; k < d; k++) m[i * d + j] += b[i * d + k] * b[j * d + k];
    const { values, vectors } = symmetricEigen(m, d);
    for (let i = 0; i < d; i++)
      for (let j = 0; j < d; j++) {
        let s = 0;
        for (let k = 0; k < d; k++) s += vectors[i * d + k] * values[k] * vectors[j * d + k];
        expect(s).toBeCloseTo(m[i * d + j], 8);
      }
    for (let k = 1; k < d; k++) expect(values[k]).toBeLessThanOrEqual(values[k - 1]);
  });

  it('TVN: plate controls centred, pooled controls whitened (identity covariance)', () => {
    const { table, components } = applyTvn(plateMap(4), { plate: 'Plate', controls });
    expect(components).toBe(4);
    for (const p of ['P0', 'P1']) {
      const { mean } = controlStats(table, p);
      for (let a = 0; a < 4; a++) expect(mean[a]).toBeCloseTo(0, 4);
    }
    const pooled = { ...table, meta: { ...table.meta, Metadata_Plate: table.meta.Metadata_Plate.map(() => 'all') } };
    const { cov } = controlStats(pooled, 'all');
    for (let a = 0; a < 4; a++) for (let b = 0; b < 4; b++) expect(cov[a * 4 + b]).toBeCloseTo(a === b ? 1 : 0, 4);
  });
});
