import { describe, expect, it } from 'vitest';
import { computeAveragePrecisionTable, computeMeanAveragePrecision } from '../../src/evaluation/map.ts';
import { computeAveragePrecisionGrouped } from '../../src/evaluation/map-grouped.ts';
import { withReferenceIndex } from '../../src/evaluation/map-presets.ts';
import type { ProfileTable } from '../../src/tables/profile-table.ts';
import { Rng } from '../../src/util/rng.ts';

/** A plate map: `plates` plates, `ctl` DMSO wells each, treatments with replicates across plates; features with a treatment effect, a plate effect and (when `ties`) coarse values so that similarities tie. */
function screen(o: { plates: number; wells: number; ctl: number; treatments: number; d: number; seed: number; ties?: boolean }): ProfileTable {
  const rng = new Rng(o.seed);
  const meta: Record<string, string[]> = { Metadata_Plate: [], Metadata_Well: [], Metadata_Compound: [], Metadata_Dose: [], Metadata_Batch: [] };
  const effect = Array.from({ length: o.treatments }, () => Array.from({ length: o.d }, () => rng.normal()));
  const plateFx = Array.from({ length: o.plates }, () => Array.from({ length: o.d }, () => rng.normal() * 0.5));
  const rows: number[][] = [];
  for (let p = 0; p < o.plates; p++) {
    for (let w = 0; w < o.wells; w++) {
      const ctl = w < o.ctl;
      const tr = ctl ? -1 : (p * 7 + w * 3) % o.treatments;
      meta.Metadata_Plate.push(`P${p}`);
      meta.Metadata_Well.push(`W${w}`);
      meta.Metadata_Compound.push(ctl ? 'DMSO' : `C${tr}`);
      meta.Metadata_Dose.push(ctl ? '0' : String(1 + (w % 2)));
      meta.Metadata_Batch.push(`B${p % 2}`);
      const strength = tr % 3 === 0 ? 0 : 1.5;
      rows.push(Array.from({ length: o.d }, (_, k) => {
        const v = (ctl ? 0 : strength * effect[tr][k]) + plateFx[p][k] + rng.normal();
        return o.ties ? Math.round(v) : v;
      }));
    }
  }
  const n = rows.length;
  const features = Float32Array.from(rows.flat());
  if (o.ties) features.set(features.subarray(0, o.d), o.d * 5); // an exact duplicate row
  return { n, d: o.d, meta, featureNames: Array.from({ length: o.d }, (_, k) => `f${k}`), features };
}

const cases: { name: string; pos: [string[], string[]]; neg: [string[], string[]]; ref?: boolean; dropControls?: boolean; similarity?: string }[] = [
  { name: 'replicate preset', pos: [['Metadata_Compound'], ['Metadata_Plate']], neg: [[], ['Metadata_Compound']], dropControls: true },
  { name: 'replicate, negatives on the same plate', pos: [['Metadata_Compound'], ['Metadata_Plate']], neg: [['Metadata_Plate'], ['Metadata_Compound']], dropControls: true },
  { name: 'activity preset', pos: [['Metadata_Compound', 'Metadata_reference_index'], []], neg: [[], ['Metadata_Compound', 'Metadata_reference_index']], ref: true },
  { name: 'activity, controls of the same plate', pos: [['Metadata_Compound', 'Metadata_reference_index'], []], neg: [['Metadata_Plate'], ['Metadata_Compound', 'Metadata_reference_index']], ref: true },
  { name: 'two sameby and two diffby columns, pearson', pos: [['Metadata_Compound', 'Metadata_Dose'], ['Metadata_Plate', 'Metadata_Well']], neg: [['Metadata_Batch'], ['Metadata_Compound', 'Metadata_Dose']], similarity: 'pearson' },
  { name: 'empty pos_sameby', pos: [[], ['Metadata_Plate', 'Metadata_Compound']], neg: [['Metadata_Plate'], ['Metadata_Compound']] },
];

describe('grouped average precision (no n x n matrix) equals the pairwise path', () => {
  for (const ties of [false, true]) {
    for (const c of cases) {
      it(`${c.name}${ties ? ', with tied similarities' : ''}`, () => {
        let t = screen({ plates: 5, wells: 24, ctl: 4, treatments: 9, d: ties ? 3 : 16, seed: 7, ties });
        if (c.dropControls) {
          const keep = t.meta.Metadata_Compound.map((v, i) => (v === 'DMSO' ? -1 : i)).filter((i) => i >= 0);
          const meta = Object.fromEntries(Object.entries(t.meta).map(([k, v]) => [k, keep.map((i) => v[i])]));
          const features = new Float32Array(keep.length * t.d);
          keep.forEach((i, r) => features.set(t.features.subarray(i * t.d, (i + 1) * t.d), r * t.d));
          t = { ...t, n: keep.length, meta, features };
        }
        if (c.ref) t = withReferenceIndex(t, { column: 'Metadata_Compound', value: 'DMSO' });
        const opts = { pos: { sameby: c.pos[0], diffby: c.pos[1] }, neg: { sameby: c.neg[0], diffby: c.neg[1] }, similarity: c.similarity, nullSize: 500, seed: 3 };
        const ref = computeAveragePrecisionTable(t, opts);
        const got = computeAveragePrecisionGrouped(t, { ...opts, blockSize: 7 });
        expect(got.rows.length).toBe(ref.rows.length);
        expect(ref.rows.filter((r) => r.nPos > 0).length).toBeGreaterThan(10);
        // Bit for bit: the same float32 keys, ranks and sums.
        expect(got.rows).toEqual(ref.rows);
        const mRef = computeMeanAveragePrecision(t, ref, c.pos[0].length ? c.pos[0] : ['Metadata_Plate'], 0.05);
        const mGot = computeMeanAveragePrecision(t, got, c.pos[0].length ? c.pos[0] : ['Metadata_Plate'], 0.05);
        expect(mGot).toEqual(mRef);
      });
    }
  }
});
