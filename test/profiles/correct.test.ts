import { describe, expect, it } from 'vitest';
import { correctProfiles } from '../../src/profiles/correct.ts';
import { symmetricEigen } from '../../src/util/linalg.ts';
import type { ProfileTable } from '../../src/tables/profile-table.ts';
import { Rng } from '../../src/util/rng.ts';

/** 2 experiments x plates "1", "2" (plate numbers repeat), correlated features, a per-plate offset and scale. */
function plateMap(seed: number): ProfileTable {
  const rng = new Rng(seed);
  const d = 4;
  const rows: number[] = [];
  const meta = { Metadata_Experiment: [] as string[], Metadata_Plate: [] as string[], Metadata_Type: [] as string[], Metadata_All: [] as string[] };
  for (let e = 0; e < 2; e++)
    for (let p = 0; p < 2; p++) {
      const k = 2 * e + p;
      for (let i = 0; i < 40; i++) {
        const a = rng.normal();
        const b = rng.normal();
        const v = [a, a + 0.3 * b, rng.normal() * (1 + e), 2 * b + 0.5 * a * e];
        rows.push(...v.map((x, j) => (k + 1) * x + 5 * k + j));
        meta.Metadata_Experiment.push(`E${e}`);
        meta.Metadata_Plate.push(String(p + 1));
        meta.Metadata_Type.push(i < 25 ? 'ctl' : 'trt');
        meta.Metadata_All.push('x');
      }
    }
  return { n: 160, d, features: Float32Array.from(rows), featureNames: ['a', 'b', 'c', 'd'], meta };
}

const rowsWhere = (t: ProfileTable, f: (i: number) => boolean) => [...Array(t.n).keys()].filter(f);
const plateOf = (t: ProfileTable, i: number) => `${t.meta.Metadata_Experiment[i]}/${t.meta.Metadata_Plate[i]}`;

function stats(t: ProfileTable, rows: number[], ddof: number) {
  const d = t.d;
  const mean = new Float64Array(d);
  for (const i of rows) for (let j = 0; j < d; j++) mean[j] += t.features[i * d + j] / rows.length;
  const cov = new Float64Array(d * d);
  for (const i of rows)
    for (let a = 0; a < d; a++)
      for (let b = 0; b < d; b++) cov[a * d + b] += ((t.features[i * d + a] - mean[a]) * (t.features[i * d + b] - mean[b])) / (rows.length - ddof);
  return { mean, cov };
}

const naiveMedian = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
};

describe('correctProfiles: pycytominer normalize semantics', () => {
  const controls = { column: 'Type', value: 'ctl' };
  const t = plateMap(1);
  const plates = [...new Set(rowsWhere(t, () => true).map((i) => plateOf(t, i)))];

  it('standardize per [Experiment, Plate]: controls have mean 0 and population sd 1 on each of the 4 plates', () => {
    const { table, step } = correctProfiles(t, { method: 'standardize', groupBy: ['Experiment', 'Plate'], controls });
    expect(step.groups).toBe(4);
    for (const p of plates) {
      const { mean, cov } = stats(table, rowsWhere(table, (i) => plateOf(table, i) === p && table.meta.Metadata_Type[i] === 'ctl'), 0);
      for (let j = 0; j < 4; j++) {
        expect(mean[j]).toBeCloseTo(0, 5);
        expect(cov[j * 4 + j]).toBeCloseTo(1, 4);
      }
    }
    // Grouping by Plate alone pools plate "1" of both experiments: 2 groups, and the plates are no longer centred.
    const pooled = correctProfiles(t, { method: 'standardize', groupBy: ['Plate'], controls });
    expect(pooled.step.groups).toBe(2);
    const { mean } = stats(pooled.table, rowsWhere(t, (i) => plateOf(t, i) === 'E0/1' && t.meta.Metadata_Type[i] === 'ctl'), 0);
    expect(Math.abs(mean[0])).toBeGreaterThan(0.5);
  });

  it('mad_robustize = (x - median) / (1.4826 MAD + epsilon) of the plate controls, by a naive loop; fit on all wells', () => {
    for (const fitOn of ['controls', 'all'] as const) {
      const { table } = correctProfiles(t, { method: 'mad_robustize', groupBy: ['Experiment', 'Plate'], controls, fitOn });
      for (const p of plates) {
        const members = rowsWhere(t, (i) => plateOf(t, i) === p);
        const fit = fitOn === 'all' ? members : members.filter((i) => t.meta.Metadata_Type[i] === 'ctl');
        for (let j = 0; j < 4; j++) {
          const v = fit.map((i) => t.features[i * 4 + j]);
          const med = naiveMedian(v);
          const mad = naiveMedian(v.map((x) => Math.abs(x - med)));
          for (const i of members) expect(table.features[i * 4 + j]).toBeCloseTo((t.features[i * 4 + j] - med) / (1.4826 * mad + 1e-18), 4);
        }
      }
    }
  });

  it('a feature constant on the controls is centred only by both (never divided by epsilon), and said so', () => {
    const c = { ...t, features: Float32Array.from(t.features) };
    for (let i = 0; i < c.n; i++) if (c.meta.Metadata_Type[i] === 'ctl') c.features[i * 4 + 2] = 7;
    const trt = rowsWhere(c, (i) => c.meta.Metadata_Type[i] === 'trt')[0];
    const s = correctProfiles(c, { method: 'standardize', groupBy: ['Experiment', 'Plate'], controls });
    expect(s.step.zeroScale).toBe(4);
    expect(s.table.features[trt * 4 + 2]).toBeCloseTo(c.features[trt * 4 + 2] - 7, 4);
    const m = correctProfiles(c, { method: 'mad_robustize', groupBy: ['Experiment', 'Plate'], controls, epsilon: 1e-3 });
    expect(m.step.zeroScale).toBe(4);
    expect(m.table.features[trt * 4 + 2]).toBeCloseTo(c.features[trt * 4 + 2] - 7, 4);
    expect(m.step.warnings?.join('\n')).toMatch(/4 \(group, feature\) pair\(s\) have a zero scale.*centred only/);
    // The default epsilon 1e-18 used to write values of order 1e17 here.
    const d = correctProfiles(c, { method: 'mad_robustize', groupBy: ['Experiment', 'Plate'], controls });
    expect(Math.max(...Array.from(d.table.features, Math.abs))).toBeLessThan(100);
    // A scale just above epsilon is still a scale.
    const e = correctProfiles(c, { method: 'mad_robustize', groupBy: ['Experiment', 'Plate'], controls, epsilon: 1e-30 });
    expect(e.step.zeroScale).toBe(4);
  });

  it('warns when a group is fitted on fewer rows than features, not otherwise', () => {
    const few = correctProfiles(t, { method: 'mad_robustize', groupBy: ['Experiment', 'Plate'], controls });
    expect(few.step.warnings ?? []).toEqual([]);
    const sub = { ...t, meta: { ...t.meta, Metadata_Type: t.meta.Metadata_Type.map((v, i) => (i % 40 < 3 ? 'ctl' : 'trt')) } };
    const r = correctProfiles(sub, { method: 'mad_robustize', groupBy: ['Experiment', 'Plate'], controls });
    expect(r.step.warnings?.[0]).toMatch(/mad_robustize: 4 of 4 group\(s\) fit a centre and scale per feature on fewer rows \(3\) than the 4 features.*--normalize-on all/);
    const s = correctProfiles(sub, { method: 'standardize', groupBy: ['Experiment', 'Plate'], controls, fitOn: 'all' });
    expect(s.step.warnings ?? []).toEqual([]);
  });

  it('fails with a clear message when a plate has too few controls or none exist', () => {
    expect(() => correctProfiles(t, { method: 'standardize', groupBy: ['Plate'], controls: { column: 'Type', value: 'nope' } })).toThrow(/never equals "nope"/);
    const one = { ...t, meta: { ...t.meta, Metadata_Type: t.meta.Metadata_Type.map((v, i) => (i < 40 ? (i === 0 ? 'ctl' : 'trt') : v)) } };
    expect(() => correctProfiles(one, { method: 'standardize', groupBy: ['Experiment', 'Plate'], controls })).toThrow(/group "E0\/1" has 1 fit rows/);
  });
});

describe('correctProfiles: TVN (EFAAR tvn_on_controls)', () => {
  const controls = { column: 'Type', value: 'ctl' };
  const t = plateMap(4);
  const ctl = rowsWhere(t, (i) => t.meta.Metadata_Type[i] === 'ctl');

  it('one batch: pooled controls whitened, then scaled by (I + 0.5 I)^(-1/2): covariance I / 1.5; each plate centred', () => {
    const { table, step } = correctProfiles(t, { method: 'tvn', groupBy: ['Experiment', 'Plate'], controls, batch: ['All'] });
    expect(step.components).toBe(4);
    expect(step.batches).toBe(1);
    const { cov } = stats(table, ctl, 1);
    for (let a = 0; a < 4; a++) for (let b = 0; b < 4; b++) expect(cov[a * 4 + b]).toBeCloseTo(a === b ? 1 / 1.5 : 0, 4);
    for (const e of ['E0', 'E1'])
      for (const p of ['1', '2']) {
        const { mean } = stats(table, ctl.filter((i) => t.meta.Metadata_Experiment[i] === e && t.meta.Metadata_Plate[i] === p), 1);
        for (let a = 0; a < 4; a++) expect(mean[a]).toBeCloseTo(0, 4);
      }
  });

  it('per batch: the output control covariance S_b satisfies S_b (C_b + 0.5 I) = C_b, C_b the whitened batch covariance', () => {
    const pooled = correctProfiles(t, { method: 'tvn', groupBy: ['Experiment', 'Plate'], controls, batch: ['All'] }).table;
    // Undo the single-batch scaling to get the whitened profiles W.
    const w: ProfileTable = { ...pooled, features: pooled.features.map((x) => x * Math.sqrt(1.5)) };
    const { table } = correctProfiles(t, { method: 'tvn', groupBy: ['Experiment', 'Plate'], controls, batch: ['Experiment'] });
    for (const e of ['E0', 'E1']) {
      const rows = ctl.filter((i) => t.meta.Metadata_Experiment[i] === e);
      const c = stats(w, rows, 1).cov;
      const s = stats(table, rows, 1).cov;
      for (let a = 0; a < 4; a++)
        for (let b = 0; b < 4; b++) {
          let v = 0;
          for (let k = 0; k < 4; k++) v += s[a * 4 + k] * (c[k * 4 + b] + (k === b ? 0.5 : 0));
          expect(v).toBeCloseTo(c[a * 4 + b], 3);
        }
    }
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
  });
});
