/**
 * Float32 samples through the data layer (corrected images, float TIFFs): values kept as they
 * are, the intensity modes unchanged (percentiles exact against a full sort), crops and the model
 * input the same as for the integer image they came from.
 */
import { describe, expect, it } from 'vitest';
import { channelPercentiles, fitIntensity, maxSampleValue, modelInputInto, scaleIntensity } from '../../src/data/preprocess.ts';
import { Dataset } from '../../src/data/image-dataset.ts';
import { MemoryImageStore } from '../../src/data/image-store.ts';
import { cellCrops, cropAt } from '../../src/data/cells/crops.ts';
import { siteKey } from '../../src/data/cells/locations.ts';
import { NO_SPLIT, type SiteRecord } from '../../src/data/types.ts';
import { Rng } from '../../src/util/rng.ts';

const rng = new Rng(11);

/** The k-th smallest (k = max(1, ceil(p% of n))) of the finite values, by a full sort. */
function sortPercentile(values: number[], p: number): number {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  return v[Math.max(1, Math.ceil((p / 100) * v.length)) - 1];
}

function site(i: number, plate: string, wellType: SiteRecord['wellType'] = 'negative_control'): SiteRecord {
  return { siteId: `s${i}`, experiment: '', plate, well: `A0${i}`, site: 1, cellType: '', label: '', wellType, split: NO_SPLIT, paths: [], extra: {}, source: `test row ${i}` };
}

describe('float32 images', () => {
  it('percentiles pooled over images are the exact order statistics (NaN and infinities left out)', () => {
    const C = 2;
    const images = [0, 1, 2].map(() => Float32Array.from({ length: 300 * C }, () => rng.normal(0.3, 0.1) ** 3));
    images[1][5] = NaN;
    images[2][8] = Infinity;
    for (const [lo, hi] of [[0.1, 99.9], [1, 99], [50, 50.5], [0, 100]]) {
      const got = channelPercentiles(images, C, 'float32', lo, hi);
      for (let c = 0; c < C; c++) {
        const vals = images.flatMap((im) => Array.from(im.filter((_, q) => q % C === c)));
        expect(got.lo[c], `${lo} ch${c}`).toBe(sortPercentile(vals, lo));
        expect(got.hi[c], `${hi} ch${c}`).toBe(sortPercentile(vals, hi));
      }
    }
  });

  it('scaling maps [lo, hi] to [0, 1] without rounding; the float scale is 1', () => {
    expect(maxSampleValue('float32')).toBe(1);
    const img = Float32Array.from([0.1, 0.2, 0.35, 0.5, 0.05, 0.9]);
    const out = scaleIntensity(img, 2, 'float32', [0.1, 0.2], [0.5, 0.6]);
    expect(out).toBeInstanceOf(Float32Array);
    [0, 0, 0.625, 0.75, 0, 1].forEach((v, q) => expect(out[q]).toBeCloseTo(v, 6));
    expect(new Set(Array.from(scaleIntensity(Float32Array.from({ length: 1000 }, (_, k) => k / 999), 1, 'float32', [0], [1]))).size).toBe(1000); // no 8/16-bit levels
  });

  it('plate scaling, crops and the model input work on float images as on the integer image they came from', async () => {
    const H = 20, W = 24, C = 2;
    const ints = [0, 1, 2, 3].map(() => Uint16Array.from({ length: H * W * C }, () => Math.floor(rng.uniform(0, 60000))));
    const floats = ints.map((a) => Float32Array.from(a, (v) => v / 65535));
    const rows = [site(1, 'P1'), site(2, 'P1'), site(3, 'P2'), site(4, 'P2')];
    const make = (px: (Uint16Array | Float32Array)[], dtype: 'uint16' | 'float32') => {
      const buf = dtype === 'uint16' ? new Uint16Array(px.length * H * W * C) : new Float32Array(px.length * H * W * C);
      px.forEach((p, i) => buf.set(p, i * H * W * C));
      return new Dataset({ rows, channels: ['DNA', 'AGP'], images: new MemoryImageStore({ height: H, width: W, channels: C, dtype }, buf), root: 'mem', layout: 'test' });
    };
    const fds = make(floats, 'float32');
    const ids = make(ints, 'uint16');
    // Plate scaling: the float data set's ranges are the integer ones over 65535.
    const fs = await (await fitIntensity(fds, { mode: 'plate', from: 'all', low: 2, high: 98 })).load();
    const is = await fitIntensity(ids, { mode: 'plate', from: 'all', low: 2, high: 98 });
    const fr = fs.intensity.plates as Record<string, { lo: number[]; hi: number[] }>;
    const ir = is.intensity.plates as Record<string, { lo: number[]; hi: number[] }>;
    for (const p of ['P1', 'P2']) for (let c = 0; c < C; c++) expect(fr[p].lo[c]).toBeCloseTo(ir[p].lo[c] / 65535, 7);
    expect(fs.dtype).toBe('float32');
    // Crops keep the samples and their type.
    const crop = cropAt(floats[0], { height: H, width: W, channels: C, dtype: 'float32' }, 3, 4, 5);
    expect(crop).toBeInstanceOf(Float32Array);
    expect(crop[0]).toBe(floats[0][(3 * W + 4) * C]);
    const at = { source: 'mem', files: [{ path: 'mem', rowLabel: (i: number) => `row ${i}` }], bySite: new Map([[siteKey(undefined, 'P1', 'A01', 1), [{ x: 10.4, y: 7.6, file: 0, row: 0 }]]]), experimentColumns: [], columns: { x: 'X', y: 'Y' } };
    const cells = await cellCrops(fds, { size: 6, locations: at });
    expect(cells.data.dtype).toBe('float32');
    expect(Array.from(cells.data.images.getSync(0))).toEqual(Array.from(cropAt(floats[0], fds.images, 5, 7, 6)));
    // The standardised model input is the same for x / 65535 as a float and x as uint16.
    const a = new Float32Array(H * W * C), b = new Float32Array(H * W * C);
    modelInputInto(floats[1], { height: H, width: W, channels: C, dtype: 'float32' }, a, 0);
    modelInputInto(ints[1], { height: H, width: W, channels: C, dtype: 'uint16' }, b, 0);
    let worst = 0;
    a.forEach((v, q) => (worst = Math.max(worst, Math.abs(v - b[q]))));
    expect(worst).toBeLessThan(1e-4);
  });
});
