import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { Dataset } from '../../src/data/image-dataset.ts';
import { MemoryImageStore } from '../../src/data/image-store.ts';
import { channelPercentiles, fitIntensity, scaleIntensity } from '../../src/data/preprocess.ts';
import { readDataset } from '../../src/data/readers/index.ts';
import type { SiteRecord } from '../../src/data/types.ts';
import { Rng } from '../../src/util/rng.ts';

const JUMP = '../shared/data/real/images/jump-rab30';
const CHANNELS = ['DNA', 'ER', 'RNA', 'AGP', 'Mito'];

/** Percentile by sorting (the reference): smallest value whose cumulative share reaches p%. */
function sortPercentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.max(1, Math.ceil((p / 100) * s.length)) - 1];
}

/** Mean of channel `c` of an HWC image. */
function channelMean(px: ArrayLike<number>, C: number, c: number): number {
  let s = 0;
  for (let i = c; i < px.length; i += C) s += px[i];
  return s / (px.length / C);
}

describe('intensity scaling', () => {
  it('channel percentiles equal a sort-based reference, and scaling maps [lo, hi] to [0, max]', () => {
    const r = new Rng(5);
    const rng = () => r.next();
    const C = 3;
    const imgs = [0, 1].map(() => Uint16Array.from({ length: 50 * C }, () => Math.floor(rng() * rng() * 60000)));
    for (const [lo, hi] of [[0.1, 99.9], [1, 99], [50, 60]]) {
      const got = channelPercentiles(imgs, C, 'uint16', lo, hi);
      for (let c = 0; c < C; c++) {
        const vals = imgs.flatMap((im) => Array.from(im).filter((_, i) => i % C === c));
        expect([got.lo[c], got.hi[c]]).toEqual([sortPercentile(vals, lo), sortPercentile(vals, hi)]);
      }
    }
    const s = scaleIntensity(Uint8Array.from([10, 20, 30, 5, 40, 100]), 2, 'uint8', [10, 20], [30, 100]);
    // channel 0: (x - 10) / 20 * 255; channel 1: (x - 20) / 80 * 255; clipped.
    expect(Array.from(s)).toEqual([0, 0, 255, 0, 255, 255]);
    expect(Array.from(scaleIntensity(Uint8Array.from([20, 60]), 2, 'uint8', [10, 20], [30, 100]))).toEqual([128, 128]);
  });

  it('plate scaling fits on the negative controls of each plate and is recorded', async () => {
    // Two plates, the second 10x brighter; controls and treatments differ within each plate.
    const C = 1, H = 4, W = 4;
    const rows: SiteRecord[] = [];
    const px: number[] = [];
    for (const [p, gain] of [['1', 1], ['2', 10]] as const) {
      for (let k = 0; k < 4; k++) {
        const ctl = k < 2;
        rows.push({ siteId: `${p}_${k}`, experiment: 'E', plate: p, well: `A0${k + 1}`, site: 1, cellType: '', label: ctl ? 'DMSO' : 'x', wellType: ctl ? 'negative_control' : 'treatment', split: 'all', paths: [], extra: {}, source: `row ${k}` });
        for (let i = 0; i < H * W; i++) px.push(Math.round(gain * (100 + i * (ctl ? 10 : 20))));
      }
    }
    const ds = new Dataset({ rows, channels: ['DNA'], images: new MemoryImageStore({ height: H, width: W, channels: C, dtype: 'uint16' }, Uint16Array.from(px)), root: 'mem', layout: 'test' });
    const scaled = await (await fitIntensity(ds, { mode: 'plate', low: 0, high: 100 })).load();
    const plates = scaled.intensity.plates as Record<string, { lo: number[]; hi: number[] }>;
    expect(plates['E/1']).toMatchObject({ lo: [100], hi: [250] });
    expect(plates['E/2']).toMatchObject({ lo: [1000], hi: [2500] });
    // The same image on both plates (up to the gain) scales to the same samples.
    expect(Array.from(scaled.images.getSync(0))).toEqual(Array.from(scaled.images.getSync(4)));
    expect(Array.from(scaled.images.getSync(2))).toEqual(Array.from(scaled.images.getSync(6)));
    expect(scaled.summary().intensity).toMatchObject({ mode: 'plate', from: 'controls', low: 0, high: 100 });
    const noCtl = ds.filter((r) => r.wellType === 'treatment');
    await expect(fitIntensity(noCtl, { mode: 'plate' })).rejects.toThrow(/Plate E\/1 .* no negative-control wells.*intensity\.from: all/);
  });

  it.skipIf(!existsSync(JUMP))('jump-rab30: the ~10x intensity difference between the two sources is visible raw and gone after per-plate scaling', async () => {
    const raw = await readDataset(JUMP, { channels: CHANNELS });
    const plate = await readDataset(JUMP, { channels: CHANNELS, intensity: { mode: 'plate', from: 'all' } });
    const image = await readDataset(JUMP, { channels: CHANNELS, intensity: { mode: 'image' } });
    const a = (ds: typeof raw) => ds.images.getSync(ds.rows.findIndex((r) => r.extra.Metadata_Source === 'source_4'));
    const b = (ds: typeof raw) => ds.images.getSync(ds.rows.findIndex((r) => r.extra.Metadata_Source === 'source_13'));
    const meanRatio = (ds: typeof raw) => CHANNELS.map((_, c) => channelMean(a(ds), 5, c) / channelMean(b(ds), 5, c));
    // The top of the range (99th percentile per channel): what a gain multiplies and scaling must align.
    const p99Ratio = (ds: typeof raw) => {
      const pa = channelPercentiles([a(ds)], 5, 'uint16', 50, 99), pb = channelPercentiles([b(ds)], 5, 'uint16', 50, 99);
      return CHANNELS.map((_, c) => pa.hi[c] / pb.hi[c]);
    };
    const fmt = (r: number[]) => CHANNELS.map((c, k) => `${c} ${r[k].toFixed(2)}`).join(', ');
    for (const [name, ds] of [['raw', raw], ['plate', plate], ['image', image]] as const) {
      console.log(`jump-rab30 source_4 / source_13 (${name.padEnd(5)}): mean ${fmt(meanRatio(ds))} | 99th percentile ${fmt(p99Ratio(ds))}`);
    }
    const dna = CHANNELS.indexOf('DNA');
    expect(channelMean(a(raw), 5, dna)).toBeCloseTo(2140.3, 0); // the README's figures
    expect(channelMean(b(raw), 5, dna)).toBeCloseTo(184.1, 0);
    expect(meanRatio(raw)[dna]).toBeGreaterThan(10);
    expect(p99Ratio(raw)[dna]).toBeGreaterThan(10);
    for (const r of p99Ratio(raw)) expect(r).toBeGreaterThan(3); // 3.4x (Mito) to 37x (DNA)
    // After per-plate scaling the two sources span about the same range in every channel (0.76x to
    // 1.14x at the 99th percentile; the scaling pins the 0.1th and 99.9th). The means stay apart
    // (source_4 ~0.3x): the fields differ in content (sparser, brighter nuclei), which no gain removes.
    for (const ds of [plate, image]) for (const r of p99Ratio(ds)) expect(Math.abs(Math.log(r))).toBeLessThan(Math.log(1.5));
    expect(plate.summary().intensity).toMatchObject({ mode: 'plate', from: 'all', low: 0.1, high: 99.9 });
  });
});
