/**
 * Classical per-site features (embedding/classical.ts) on drawn images of known values: the
 * cytoplasm rings' extent and ownership, nuclear and ring means and their ratio exactly, the
 * intensity quantiles against a sort-based reference, and the whole-site features on a drawn
 * two-channel field whose nuclei the detector must find.
 */
import { describe, expect, it } from 'vitest';
import { channelIntensityStats, classicalCollector, classicalFeatureNames, classicalFeatures, compartmentIntensity, cytoplasmRings, siteClassicalFeatures } from '../../src/embedding/classical.ts';
import { channelPlane, detectNuclei } from '../../src/data/cells/nuclei.ts';
import { Dataset } from '../../src/data/image-dataset.ts';
import { MemoryImageStore } from '../../src/data/image-store.ts';
import type { SiteRecord } from '../../src/data/types.ts';
import { quantile } from '../../src/util/stats.ts';
import { Rng } from '../../src/util/rng.ts';

/** A label image with square nuclei: [y0, x0, side] per nucleus, labels 1.. in order. */
function squares(H: number, W: number, boxes: [number, number, number][]): Int32Array {
  const l = new Int32Array(H * W);
  boxes.forEach(([y0, x0, s], k) => {
    for (let y = y0; y < y0 + s; y++) for (let x = x0; x < x0 + s; x++) l[y * W + x] = k + 1;
  });
  return l;
}

describe('cytoplasm rings', () => {
  it('a ring of width r around an isolated s x s nucleus is the (s + 2r)^2 - s^2 pixels at chessboard distance 1..r', () => {
    const H = 40, W = 40;
    const labels = squares(H, W, [[15, 15, 6]]);
    for (const r of [1, 3, 5]) {
      const ring = cytoplasmRings(labels, H, W, r);
      let n = 0;
      let wrong = 0;
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          const d = Math.max(Math.max(15 - y, y - 20, 0), Math.max(15 - x, x - 20, 0));
          const inRing = d >= 1 && d <= r;
          if (ring[y * W + x] !== (inRing ? 1 : 0)) wrong++;
          if (inRing) n++;
        }
      }
      expect(wrong).toBe(0);
      expect(n).toBe((6 + 2 * r) ** 2 - 36);
    }
  });

  it('between two nuclei each ring pixel goes to the nearer one, and no ring enters a nucleus', () => {
    const H = 20, W = 40;
    // Nuclei at columns 5..8 and 19..22 (rows 8..11): 10 free columns between them.
    const labels = squares(H, W, [[8, 5, 4], [8, 19, 4]]);
    const ring = cytoplasmRings(labels, H, W, 6);
    for (let x = 9; x <= 13; x++) expect(ring[9 * W + x]).toBe(1); // 1..5 px from the first
    for (let x = 14; x <= 18; x++) expect(ring[9 * W + x]).toBe(2); // 1..5 px from the second
    for (let p = 0; p < labels.length; p++) if (labels[p]) expect(ring[p]).toBe(0);
  });
});

describe('compartment intensities', () => {
  it('nuclear and ring means per cell and over the field, exactly', () => {
    const H = 30, W = 60;
    const labels = squares(H, W, [[10, 5, 5], [10, 40, 8]]);
    const ring = cytoplasmRings(labels, H, W, 2);
    // Reporter: 0.8 in nucleus 1, 0.5 in nucleus 2, 0.2 in ring 1, 0.1 in ring 2, 0.9 elsewhere (never counted).
    const plane = Float32Array.from(labels, (l, p) => (l === 1 ? 0.8 : l === 2 ? 0.5 : ring[p] === 1 ? 0.2 : ring[p] === 2 ? 0.1 : 0.9));
    const r = compartmentIntensity(plane, labels, ring, 2);
    expect(r.perCell.nuclei[0]).toBeCloseTo(0.8, 6);
    expect(r.perCell.nuclei[1]).toBeCloseTo(0.5, 6);
    expect(r.perCell.cytoplasm[0]).toBeCloseTo(0.2, 6);
    expect(r.perCell.cytoplasm[1]).toBeCloseTo(0.1, 6);
    // Pixel-weighted over the field: 25 and 64 nuclear pixels; rings of 9^2 - 25 = 56 and 12^2 - 64 = 80.
    expect(r.nuclei).toBeCloseTo((25 * 0.8 + 64 * 0.5) / 89, 6);
    expect(r.cytoplasm).toBeCloseTo((56 * 0.2 + 80 * 0.1) / 136, 6);
  });

  it('quantiles from the histogram equal numpy-style linear interpolation over the sorted samples', () => {
    const rng = new Rng(5);
    const px = Uint8Array.from({ length: 2 * 1001 }, () => Math.min(255, Math.floor(Math.abs(rng.normal(40, 30)))));
    const qs = [0, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1];
    for (const c of [0, 1]) {
      const vals = Array.from({ length: 1001 }, (_, p) => px[2 * p + c] / 255);
      const s = channelIntensityStats(px, 2, c, 255, qs);
      qs.forEach((q, k) => expect(s.quantiles[k]).toBeCloseTo(quantile(vals, q), 10));
      const m = vals.reduce((a, b) => a + b, 0) / vals.length;
      expect(s.mean).toBeCloseTo(m, 10);
      expect(s.sd).toBeCloseTo(Math.sqrt(vals.reduce((a, b) => a + (b - m) ** 2, 0) / vals.length), 8);
    }
  });
});

/**
 * A drawn 2-channel field (DNA, GFP), uint8: discs of DNA of radius R; GFP `nuc` out to R + 2
 * (the detected mask reaches a pixel or two past the disc's edge: smoothing, then a log-space
 * threshold) and `cyto` in a band beyond it, wider than the ring.
 */
function field(H: number, W: number, centres: [number, number][], R: number, nuc: number, cyto: number): Uint8Array {
  const px = new Uint8Array(H * W * 2);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const d = Math.min(...centres.map(([cy, cx]) => Math.hypot(y - cy, x - cx)));
      px[(y * W + x) * 2] = d <= R ? 200 : 8;
      px[(y * W + x) * 2 + 1] = d <= R + 2 ? nuc : d <= R + 12 ? cyto : 2;
    }
  }
  return px;
}

describe('site features', () => {
  it('finds the drawn nuclei and reads the nuclear / cytoplasmic GFP ratio of the drawing', async () => {
    const H = 96, W = 96;
    const centres: [number, number][] = [[24, 24], [24, 72], [72, 48]];
    const shape = { height: H, width: W, channels: 2, dtype: 'uint8' as const };
    const names = classicalFeatureNames(['DNA', 'GFP'], 'GFP');
    const get = (f: number[], n: string) => f[names.indexOf(n)];
    const out = siteClassicalFeatures(field(H, W, centres, 8, 150, 50), shape, { dna: 0, reporter: 1 });
    expect(out).toHaveLength(names.length);
    expect(get(out, 'Nuclei_Count')).toBe(3);
    // The ratio is the drawn 3, within 10 %.
    expect(get(out, 'Ratio_NucleiCytoplasm_GFP')).toBeGreaterThan(2.7);
    expect(get(out, 'Ratio_NucleiCytoplasm_GFP')).toBeLessThan(3.3);
    expect(get(out, 'Ratio_NucleiCytoplasm_CellMedian_GFP')).toBeCloseTo(get(out, 'Ratio_NucleiCytoplasm_GFP'), 1);
    expect(get(out, 'Nuclei_Mean_DNA')).toBeGreaterThan(10 * get(out, 'Cytoplasm_Mean_DNA'));
    expect(get(out, 'Intensity_Q99_DNA')).toBeCloseTo(200 / 255, 6);
    // Translocated (the positive-control picture): GFP mostly nuclear, the ratio far higher.
    const moved = siteClassicalFeatures(field(H, W, centres, 8, 200, 20), shape, { dna: 0, reporter: 1 });
    expect(get(moved, 'Ratio_NucleiCytoplasm_GFP')).toBeGreaterThan(2 * get(out, 'Ratio_NucleiCytoplasm_GFP'));

    // Through a data set: one row per site, the embedding tables' metadata columns.
    const rows: SiteRecord[] = ['A01', 'A02'].map((well, i) => ({ siteId: `p/${well}`, experiment: '', plate: 'p', well, site: 1, cellType: '', label: String(i), wellType: i ? 'positive_control' : 'negative_control', split: 'all', paths: [], extra: {}, source: 'test' }));
    const store = new MemoryImageStore(shape, Uint8Array.from([...field(H, W, centres, 8, 150, 50), ...field(H, W, centres, 8, 200, 20)]));
    const ds = new Dataset({ rows, channels: ['DNA', 'GFP'], images: store, labels: ['0', '1'], root: '(test)', layout: 'test' });
    const t = await classicalFeatures(ds, { reporter: 'GFP' });
    expect(t.n).toBe(2);
    expect(t.featureNames).toEqual(names);
    expect(t.meta.Metadata_Well).toEqual(['A01', 'A02']);
    expect(t.meta.Metadata_WellType).toEqual(['negative_control', 'positive_control']);
    expect(t.features[names.indexOf('Ratio_NucleiCytoplasm_GFP')]).toBeCloseTo(get(out, 'Ratio_NucleiCytoplasm_GFP'), 5);
    await expect(classicalFeatures(ds, { reporter: 'RFP' })).rejects.toThrow(/"RFP" is not a channel of this data set \(DNA, GFP\)/);

    // Measured on a detection handed in (the cell crops'): the same table, sites checked by id.
    const c = classicalCollector(ds, { reporter: 'GFP' });
    const plane = (i: number) => channelPlane(store.getSync(i), shape, 0);
    await c.measure(1, 'p/A02', detectNuclei(plane(1), H, W));
    expect(() => c.table()).toThrow(/1 sites not measured \(p\/A01/);
    await c.measure(0, 'p/A01', detectNuclei(plane(0), H, W));
    expect(Array.from(c.table().features)).toEqual(Array.from(t.features));
    await expect(c.measure(0, 'p/A02')).rejects.toThrow(/site 0 is p\/A01, not p\/A02/);
  });
});
