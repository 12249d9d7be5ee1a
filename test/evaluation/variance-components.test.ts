import { describe, expect, it } from 'vitest';
import { loadBbbc021Gallery } from '../../src/datasets/bbbc021.ts';
import { cellProfilerFeatureKind, medianRatios, varianceComponents } from '../../src/evaluation/variance-components.ts';
import type { ProfileTable } from '../../src/tables/profile-table.ts';
import { Rng } from '../../src/util/rng.ts';
import { GALLERY } from './fixtures.ts';

/**
 * Profiles drawn from known components: feature = batch shift + plate shift + treatment effect +
 * well noise, 12 batches x 4 plates, 8 controls and 30 treatments (one well each) per plate.
 */
function drawProfiles(sd: { batch: number; plate: number; well: number; treatment: number }, d: number, seed: number): ProfileTable {
  const rng = new Rng(seed);
  const effects = Array.from({ length: 30 }, () => Array.from({ length: d }, () => rng.normal(0, sd.treatment)));
  const meta: Record<string, string[]> = { Metadata_Batch: [], Metadata_Plate: [], Metadata_Treatment: [] };
  const feats: number[] = [];
  for (let b = 0; b < 12; b++) {
    const bs = Array.from({ length: d }, () => rng.normal(0, sd.batch));
    for (let p = 0; p < 4; p++) {
      const ps = Array.from({ length: d }, () => rng.normal(0, sd.plate));
      const wells = [...Array.from({ length: 8 }, () => -1), ...effects.map((_, t) => t)];
      for (const t of wells) {
        meta.Metadata_Batch.push(`B${b}`);
        meta.Metadata_Plate.push(`B${b}_P${p}`);
        meta.Metadata_Treatment.push(t < 0 ? 'DMSO' : `T${t}`);
        for (let f = 0; f < d; f++) feats.push(bs[f] + ps[f] + (t < 0 ? 0 : effects[t][f]) + rng.normal(0, sd.well));
      }
    }
  }
  const n = meta.Metadata_Plate.length;
  return { n, d, meta, featureNames: Array.from({ length: d }, (_, f) => `F${f}`), features: Float32Array.from(feats) };
}

describe('varianceComponents', () => {
  it('recovers known batch, plate, well and treatment SDs (median over 200 features within 12 %)', () => {
    const truth = { batch: 0.3, plate: 0.1, well: 0.2, treatment: 0.5 };
    const t = drawProfiles(truth, 200, 7);
    const rows = varianceComponents(t, { batchCol: 'Metadata_Batch', plateCol: 'Metadata_Plate', treatmentCol: 'Metadata_Treatment', isControl: (i) => t.meta.Metadata_Treatment[i] === 'DMSO' });
    expect(rows).toHaveLength(200);
    const med = (k: keyof typeof truth) => [...rows.map((r) => r[k])].sort((a, b) => a - b)[100];
    for (const k of ['batch', 'plate', 'well', 'treatment'] as const) expect(Math.abs(med(k) / truth[k] - 1)).toBeLessThan(0.12);
    const r = medianRatios(rows);
    expect(r.batch).toBeCloseTo(0.6, 1);
    expect(r.plate).toBeCloseTo(0.2, 1);
  });

  it('reports 0 when there is no batch or plate effect (noise correction, not inflation)', () => {
    const t = drawProfiles({ batch: 0, plate: 0, well: 0.2, treatment: 0.5 }, 100, 3);
    const rows = varianceComponents(t, { batchCol: 'Metadata_Batch', plateCol: 'Metadata_Plate', treatmentCol: 'Metadata_Treatment', isControl: (i) => t.meta.Metadata_Treatment[i] === 'DMSO' });
    const med = (k: 'batch' | 'plate') => [...rows.map((r) => r[k])].sort((a, b) => a - b)[50];
    // Without the correction the plate SD would be ~ 0.2 / sqrt(8) = 0.07.
    expect(med('plate')).toBeLessThan(0.03);
    expect(med('batch')).toBeLessThan(0.03);
  });

  it('log scale skips non-positive features; errors name the missing column', () => {
    const t = drawProfiles({ batch: 0.3, plate: 0.1, well: 0.2, treatment: 0.5 }, 3, 1);
    for (let i = 0; i < t.n; i++) t.features[i * 3 + 1] = 1 + Math.abs(t.features[i * 3 + 1]);
    const isControl = (i: number) => t.meta.Metadata_Treatment[i] === 'DMSO';
    const rows = varianceComponents(t, { batchCol: 'Metadata_Batch', plateCol: 'Metadata_Plate', treatmentCol: 'Metadata_Treatment', isControl, log: true });
    expect(rows.map((r) => r.feature)).toEqual(['F1']);
    expect(() => varianceComponents(t, { batchCol: 'Metadata_Week', plateCol: 'Metadata_Plate', treatmentCol: 'Metadata_Treatment', isControl })).toThrow(/Metadata_Week/);
    expect(() => varianceComponents(t, { batchCol: 'Metadata_Batch', plateCol: 'Metadata_Plate', treatmentCol: 'Metadata_Treatment', isControl: () => false })).toThrow(/fewer than 2 control wells/);
  });
});

describe('BBBC021 variance components (raw per-well means, log scale)', () => {
  it('week shifts of morphology features are about a third of the treatment effects, intensity shifts about 0.7', async () => {
    const { table } = await loadBbbc021Gallery(GALLERY);
    const comp = table.meta.Metadata_Compound;
    const rows = varianceComponents(table, { batchCol: 'Metadata_Batch', plateCol: 'Metadata_Plate', treatmentCol: 'Metadata_Treatment', isControl: (i) => comp[i] === 'DMSO', log: true });
    const morph = medianRatios(rows.filter((r) => cellProfilerFeatureKind(r.feature) === 'morphology'));
    const inten = medianRatios(rows.filter((r) => cellProfilerFeatureKind(r.feature) === 'intensity'));
    expect([morph.features, inten.features]).toEqual([351, 105]);
    // An independent first pass (different plate-variance pooling) gave 0.327 / 0.170 and 0.700 / 0.269.
    expect(morph.batch).toBeGreaterThan(0.3);
    expect(morph.batch).toBeLessThan(0.37);
    expect(morph.plate).toBeGreaterThan(0.15);
    expect(morph.plate).toBeLessThan(0.19);
    expect(inten.batch).toBeGreaterThan(0.65);
    expect(inten.batch).toBeLessThan(0.75);
  });
});
