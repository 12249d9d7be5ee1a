import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { displayStandardized, examplePngs, pickExamplesFromDataset, standardizePerImage, type RawImage } from '../../src/report/images.ts';
import { Rng } from '../../src/util/rng.ts';
import { syntheticCellImage } from './fixtures.ts';

/** Float64 reference of per-image per-channel standardisation, written from the definition. */
function standardizeNaive(img: RawImage): number[] {
  const { width: w, height: h, channels: c } = img;
  const out = new Array<number>(w * h * c);
  for (let ch = 0; ch < c; ch++) {
    const vals: number[] = [];
    for (let p = 0; p < w * h; p++) vals.push(img.data[p * c + ch]);
    const mean = vals.reduce((a, b) => a + b, 0) / vals.length;
    const std = Math.sqrt(vals.reduce((a, b) => a + (b - mean) ** 2, 0) / vals.length);
    for (let p = 0; p < w * h; p++) out[p * c + ch] = std > 0 ? (vals[p] - mean) / std : 0;
  }
  return out;
}

async function decode(png: Buffer) {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  return { data, info };
}

describe('standardizePerImage', () => {
  it('matches a float64 reference on random 8-bit and float images', () => {
    const rng = new Rng(3);
    for (const [w, h, c] of [[7, 5, 3], [4, 4, 1], [3, 6, 2]]) {
      const u8: RawImage = { width: w, height: h, channels: c, data: Uint8Array.from({ length: w * h * c }, () => rng.int(256)) };
      const f32: RawImage = { width: w, height: h, channels: c, data: Float32Array.from({ length: w * h * c }, () => rng.normal(0.3, 0.1)) };
      for (const img of [u8, f32]) {
        const z = standardizePerImage(img);
        const ref = standardizeNaive(img);
        ref.forEach((r, i) => expect(z[i]).toBeCloseTo(r, 4));
      }
    }
  });
  it('maps a constant channel to zeros, not NaN', () => {
    const img: RawImage = { width: 2, height: 2, channels: 2, data: Uint8Array.from([5, 1, 5, 2, 5, 3, 5, 4]) };
    const z = standardizePerImage(img);
    expect([z[0], z[2], z[4], z[6]]).toEqual([0, 0, 0, 0]);
    expect(z[1]).toBeCloseTo(-3 / Math.sqrt(5), 6); // values 1..4: mean 2.5, std sqrt(1.25)
  });
  it('is invariant to a per-channel gain and offset (what removes plate brightness)', () => {
    const a = Float32Array.from(syntheticCellImage(16, 0, 9));
    const b = Float32Array.from(a, (v, i) => (i % 3 === 0 ? 2 * v + 7 : i % 3 === 1 ? v + 30 : 0.5 * v));
    const za = standardizePerImage({ width: 16, height: 16, channels: 3, data: a });
    const zb = standardizePerImage({ width: 16, height: 16, channels: 3, data: b });
    za.forEach((v, i) => expect(zb[i]).toBeCloseTo(v, 4));
  });
});

describe('display and PNGs', () => {
  it('maps z in [-3, 3] to [0, 255] with clamping', () => {
    const z = Float32Array.from([-4, -3, 0, 3, 4]);
    expect(Array.from(displayStandardized(z, { width: 5, height: 1, channels: 1 }))).toEqual([0, 0, 128, 255, 255]);
  });
  it('renders before/after PNGs at the display size; after is the same for two brightness-shifted plates', async () => {
    const a = syntheticCellImage(64, 0, 5);
    const b = Uint8Array.from(a, (v) => Math.min(255, v + 40)); // plate 2: brighter
    const pa = await examplePngs({ plate: 'A', image: { width: 64, height: 64, channels: 3, data: a } }, 48);
    const pb = await examplePngs({ plate: 'B', image: { width: 64, height: 64, channels: 3, data: b } }, 48);
    const [ba, bb, aa, ab] = await Promise.all([decode(pa.before), decode(pb.before), decode(pa.after), decode(pb.after)]);
    expect(ba.info.width).toBe(48);
    expect(ba.info.channels).toBe(3);
    let diffBefore = 0, diffAfter = 0;
    for (let i = 0; i < ba.data.length; i++) {
      diffBefore = Math.max(diffBefore, Math.abs(ba.data[i] - bb.data[i]));
      diffAfter = Math.max(diffAfter, Math.abs(aa.data[i] - ab.data[i]));
    }
    expect(diffBefore).toBeGreaterThanOrEqual(39); // the raw view shows the shift
    expect(diffAfter).toBeLessThanOrEqual(1); // the standardised view removes it (rounding only)
    expect(pb.channelMeans[0] - pa.channelMeans[0]).toBeCloseTo(40 / 255, 2);
  });
});

describe('pickExamplesFromDataset', () => {
  it('takes the same well and site on every plate of an RxRx1-WILDS folder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ben-wilds-'));
    const rows = ['site_id,well_id,cell_type,dataset,experiment,plate,well,site,well_type,sirna,sirna_id'];
    for (const exp of ['HEPG2-01', 'U2OS-01']) {
      for (const plate of [2, 1]) {
        // B02 is on 3 plates, D04 on 2, C03 on 1: B02 wins although it is never a plate's first row.
        const wells = ({ 'HEPG2-01/1': ['D04', 'B02'], 'HEPG2-01/2': ['C03', 'B02'], 'U2OS-01/1': ['D04', 'B02'], 'U2OS-01/2': ['D04'] } as Record<string, string[]>)[`${exp}/${plate}`];
        for (const well of wells) rows.push(`${exp}_${plate}_${well}_1,x,HEPG2,train,${exp},${plate},${well},1,treatment,s${well},1`);
      }
    }
    await writeFile(join(dir, 'metadata.csv'), rows.join('\n'));
    const ex = await pickExamplesFromDataset(dir);
    expect(ex.map((e) => e.plate)).toEqual(['HEPG2-01/Plate1', 'HEPG2-01/Plate2', 'U2OS-01/Plate1', 'U2OS-01/Plate2']);
    expect(ex[0].path).toBe(join(dir, 'images', 'HEPG2-01', 'Plate1', 'B02_s1.png'));
    expect(ex[1].path).toBe(join(dir, 'images', 'HEPG2-01', 'Plate2', 'B02_s1.png'));
    expect(ex[3].path).toBe(join(dir, 'images', 'U2OS-01', 'Plate2', 'D04_s1.png')); // no B02 there: first row
    expect(ex[0].caption).toBe('B02 site 1 · sB02');
    expect((await pickExamplesFromDataset(dir, 2)).length).toBe(2);
  });
  it('prefers a negative-control well on every plate when each plate has one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ben-wilds-'));
    const rows = ['experiment,plate,well,site,well_type,sirna'];
    rows.push('E1,1,B02,1,treatment,s1', 'E1,1,C10,2,negative_control,EMPTY', 'E1,1,C10,1,negative_control,EMPTY', 'E1,1,D04,1,negative_control,EMPTY');
    rows.push('E1,2,B02,1,treatment,s1', 'E1,2,F07,1,negative_control,EMPTY');
    await writeFile(join(dir, 'metadata.csv'), rows.join('\n'));
    const ex = await pickExamplesFromDataset(dir);
    expect(ex.map((e) => e.path)).toEqual([join(dir, 'images/E1/Plate1/C10_s1.png'), join(dir, 'images/E1/Plate2/F07_s1.png')]);
    expect(ex[0].caption).toBe('C10 site 1 · negative control (EMPTY)');
    // One plate without a control: back to the shared position.
    await writeFile(join(dir, 'metadata.csv'), [...rows, 'E1,3,B02,1,treatment,s1'].join('\n'));
    expect((await pickExamplesFromDataset(dir)).map((e) => e.path!.slice(-12))).toEqual(['/Plate1/B02_s1.png', '/Plate2/B02_s1.png', '/Plate3/B02_s1.png'].map((p) => p.slice(-12)));
  });
  it('says what is missing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ben-wilds-'));
    await expect(pickExamplesFromDataset(dir)).rejects.toThrow(/No metadata\.csv/);
    await mkdir(join(dir, 'images'));
    await writeFile(join(dir, 'metadata.csv'), 'experiment,plate,well\nE,1,B02\n');
    await expect(pickExamplesFromDataset(dir)).rejects.toThrow(/no "site" column/);
  });
  it('reports an unreadable image as a user error naming the file', async () => {
    await expect(examplePngs({ plate: 'P', path: '/nonexistent/x.png' })).rejects.toThrow(/\/nonexistent\/x\.png/);
  });
});
