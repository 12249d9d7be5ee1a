/**
 * Illumination correction on generated screens: CellProfiler's functions named by a LoadData CSV
 * (FileName_Illum / URL_Illum, mapped through --url-root) divide each image before intensity
 * scaling; functions computed per plate recover the vignette the images were made with, are
 * written as .npy with a LoadData CSV that reads back to the same pixels; the estimate's parts
 * (disk median, robust rescale) against independent references.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { readDataset } from '../../src/data/readers/index.ts';
import { ILLUMINATION_CSV, ILLUMINATION_MARKER, illuminationFunction, medianFilterDisk, robustRescale } from '../../src/data/illumination/index.ts';
import { encodeNpy, parseNpy } from '../../src/data/npy.ts';
import { readCsv, toCsv } from '../../src/data/csv.ts';
import { DataError, UserError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';
import { floatTiff, vignette, writeScreen, type Screen } from './screen-fixtures.ts';
import { fromArrayBuffer } from 'geotiff';
import { decodeImage } from '../../src/data/decode.ts';
import { readIlluminationFunction } from '../../src/data/illumination/index.ts';


const root = mkdtempSync(join(tmpdir(), 'ben-illum-'));
let screen: Screen;
beforeAll(async () => {
  screen = await writeScreen(join(root, 'screen'));
});

const siteKey = (r: { plate: string; well: string; site: number }) => `${r.plate}/${r.well}/${r.site}`;

async function rejects(p: Promise<unknown>, type: typeof UserError, ...patterns: RegExp[]): Promise<void> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e, 'expected an error').toBeInstanceOf(type);
  for (const re of patterns) expect((e as Error).message).toMatch(re);
}

describe('illumination functions named by the LoadData CSV', () => {
  it('each image is divided by its plate and channel function: float32 samples = stored / 65535 / function', async () => {
    const ds = await readDataset(screen.csv);
    expect(ds.dtype).toBe('float32');
    expect(ds.illumination).toMatchObject({ mode: 'loaddata', applied: true, source: screen.csv, files: 4 });
    expect(ds.illumination.plates.P1).toEqual({ DNA: screen.functionFiles.get('P1')![0], AGP: screen.functionFiles.get('P1')![1] });
    const C = screen.channels.length;
    let worst = 0;
    ds.rows.forEach((r, i) => {
      const raw = screen.pixels.get(siteKey(r))!;
      const fns = screen.functions.get(r.plate)!;
      const px = ds.images.getSync(i);
      for (let q = 0; q < px.length; q++) worst = Math.max(worst, Math.abs(px[q] - raw[q] / 65535 / fns[q % C][Math.floor(q / C)]));
    });
    expect(worst).toBeLessThan(1e-6);
    const none = await readDataset(screen.csv, { illumination: 'none' });
    expect(none.dtype).toBe('uint16');
    expect(none.illumination).toMatchObject({ mode: 'none', applied: false });
  });

  it('intensity scaling works unchanged on the corrected float images (plate percentiles to [0, 1])', async () => {
    const ds = await readDataset(screen.csv, { intensity: { mode: 'plate', from: 'all', low: 1, high: 99 } });
    expect(ds.dtype).toBe('float32');
    const px = ds.images.getSync(0);
    const vals = Array.from(px);
    expect(Math.min(...vals)).toBe(0);
    expect(Math.max(...vals)).toBe(1);
    // Float samples stay float: many distinct values, not 256 or 65536 levels.
    expect(new Set(vals).size).toBeGreaterThan(500);
    expect(ds.intensity).toMatchObject({ mode: 'plate', from: 'all' });
  });

  it('a function of another shape is an error naming both files; a missing one names the file; bad values are refused', async () => {
    const bad = join(root, 'bad-shape');
    cpSync(screen.dir, bad, { recursive: true });
    writeFileSync(join(bad, 'illum', 'P2', 'P2_IllumAGP.npy'), encodeNpy(new Float32Array(30 * 20).fill(1), [30, 20]));
    await rejects(readDataset(join(bad, 'load_data.csv')), DataError, /Illumination function .*P2_IllumAGP\.npy is 30x20 but image .*P2_A01_s1_AGP\.tif .* is 40x48/);
    writeFileSync(join(bad, 'illum', 'P2', 'P2_IllumAGP.npy'), encodeNpy(new Float32Array(40 * 48).fill(0), [40, 48]));
    const ds = await readDataset(join(bad, 'load_data.csv'), { load: false });
    await rejects(ds.images.get(ds.rows.findIndex((r) => r.plate === 'P2')), DataError, /P2_IllumAGP\.npy has 1920 value\(s\) that are zero, negative or not finite/);
    const gone = join(root, 'gone');
    cpSync(screen.dir, gone, { recursive: true });
    const text = readFileSync(join(gone, 'load_data.csv'), 'utf8').replace('P1_IllumDNA.npy', 'P1_IllumDNX.npy');
    writeFileSync(join(gone, 'load_data.csv'), text);
    await rejects(readDataset(join(gone, 'load_data.csv')), DataError, /Illumination function .*P1_IllumDNX\.npy \(channel DNA, .*load_data\.csv line 2\) does not exist/);
    await rejects(readDataset(join(gone, 'load_data.csv'), { illumination: 'loaddata', channels: ['DNA'] }), DataError, /P1_IllumDNX/);
    // No function columns at all: loaddata is an error, the default is none.
    const plain = await writeScreen(join(root, 'plain'), { plates: 1, wells: 1, sites: 1, illumColumns: false });
    expect((await readDataset(plain.csv)).illumination.mode).toBe('none');
    await rejects(readDataset(plain.csv, { illumination: 'loaddata' }), UserError, /names no illumination functions/, /--illumination compute/);
  });

  it('a float32 TIFF function (values checked with geotiff, a second decoder) divides like its .npy', async () => {
    const f = screen.functions.get('P1')![0];
    const tif = join(root, 'P1_IllumDNA.tif');
    writeFileSync(tif, floatTiff(f, screen.width, screen.height));
    const b = readFileSync(tif);
    const ref = (await (await fromArrayBuffer(b.buffer.slice(b.byteOffset, b.byteOffset + b.length))).getImage()).readRasters({ interleave: true });
    expect(Array.from((await ref) as unknown as Float32Array)).toEqual(Array.from(f));
    const got = await readIlluminationFunction(tif);
    expect([got.height, got.width]).toEqual([screen.height, screen.width]);
    expect(Array.from(got.data)).toEqual(Array.from(f));
  });

  it('URL_Orig / URL_Illum columns: file:// read directly, s3:// through --url-root, an unmapped URL names column, URL and flag', async () => {
    const t = await readCsv(screen.csv);
    const mirror = join(root, 'mirror');
    cpSync(screen.dir, join(mirror, 'bucket', 'proj'), { recursive: true });
    const s3 = (rel: string) => `s3://my-bucket/proj/${rel}`;
    const cols = ['Metadata_Plate', 'Metadata_Well', 'Metadata_Site', ...screen.channels.flatMap((ch) => [`URL_Orig${ch}`, `URL_Illum${ch}`])];
    const rows = t.records.map(({ values: v }) => [v.Metadata_Plate, v.Metadata_Well, v.Metadata_Site,
      ...screen.channels.flatMap((ch, c) => [c === 0 ? pathToFileURL(join(screen.dir, v[`PathName_Orig${ch}`], v[`FileName_Orig${ch}`])).href : s3(`${v[`PathName_Orig${ch}`]}/${v[`FileName_Orig${ch}`]}`), s3(`illum/${v.Metadata_Plate}/${v[`FileName_Illum${ch}`]}`)])]);
    const urlCsv = join(root, 'urls.csv');
    writeFileSync(urlCsv, toCsv(cols, rows));
    const ds = await readDataset(urlCsv, { urlRoot: { 's3://my-bucket': join(mirror, 'bucket') } });
    const ref = await readDataset(screen.csv);
    expect(ds.channels).toEqual(['DNA', 'AGP']);
    expect(ds.illumination).toMatchObject({ mode: 'loaddata', files: 4 });
    expect(ds.rows[0].paths[0]).toBe(join(screen.dir, 'images', 'P1', 'P1_A01_s1_DNA.tif'));
    expect(ds.rows[0].paths[1]).toBe(join(mirror, 'bucket', 'proj', 'images', 'P1', 'P1_A01_s1_AGP.tif'));
    for (let i = 0; i < ds.size; i++) expect(Array.from(ds.images.getSync(i))).toEqual(Array.from(ref.images.getSync(i)));
    await rejects(readDataset(urlCsv), UserError, /urls\.csv line 2: URL_OrigAGP "s3:\/\/my-bucket\/proj\/images\/P1\/P1_A01_s1_AGP\.tif" is not a local path/, /--url-root s3:\/\/my-bucket=DIR/);
    // PathName_ holding a URL maps through the same roots.
    const pn = join(root, 'pathname-url.csv');
    writeFileSync(pn, readFileSync(screen.csv, 'utf8').replace(/images\/(P\d)/g, 's3://my-bucket/proj/images/$1').replace(/,illum\/(P\d)/g, ',s3://my-bucket/proj/illum/$1'));
    const viaPath = await readDataset(pn, { urlRoot: { 's3://my-bucket/': join(mirror, 'bucket') } });
    expect(viaPath.rows[0].paths[0]).toBe(join(mirror, 'bucket', 'proj', 'images', 'P1', 'P1_A01_s1_DNA.tif'));
    expect(viaPath.rows[0].illumination![0]).toBe(join(mirror, 'bucket', 'proj', 'illum', 'P1', 'P1_IllumDNA.npy'));
  });

  it('metadata only: sites, channels and functions listed, nothing opened', async () => {
    const t = await readCsv(screen.csv);
    const cols = ['Metadata_Plate', 'Metadata_Well', 'Metadata_Site', 'URL_OrigDNA', 'URL_IllumDNA'];
    const rows = t.records.map(({ values: v }) => [v.Metadata_Plate, v.Metadata_Well, v.Metadata_Site, `s3://b/x/${v.FileName_OrigDNA}`, `s3://b/i/${v.Metadata_Plate}.npy`]);
    const csv = join(root, 'nowhere.csv');
    writeFileSync(csv, toCsv(cols, rows));
    const ds = await readDataset(csv, { urlRoot: { 's3://b': join(root, 'no-such-mirror') }, metadataOnly: true, intensity: { mode: 'plate' } });
    expect(ds.summary()).toMatchObject({ images: 12, plates: 2, channels: ['DNA'], imagesRead: false, height: 0 });
    expect(ds.illumination).toMatchObject({ mode: 'loaddata', applied: false, files: 2, plates: { P1: { DNA: join(root, 'no-such-mirror', 'i', 'P1.npy') } } });
    expect(ds.intensity).toMatchObject({ mode: 'plate', note: expect.stringMatching(/not fitted/) });
  });
});

describe('illumination functions computed per plate (CellProfiler Regular / All / Median Filter)', () => {
  it('recovers each plate and channel vignette; writes .npy + a LoadData CSV that reads back to the same pixels; reuses them', async () => {
    const big = await writeScreen(join(root, 'big'), { height: 80, width: 96, sites: 3, seed: 7 });
    const dir = join(root, 'computed');
    const logs: string[] = [];
    const ds = await readDataset(big.csv, { illumination: { mode: 'compute', dir, filterSize: 30, log: (l) => logs.push(l) } });
    expect(ds.dtype).toBe('float32');
    expect(ds.illumination).toMatchObject({ mode: 'compute', applied: true, source: dir, csv: join(dir, ILLUMINATION_CSV), filterSize: 30, radius: 13, files: 4 });
    expect(existsSync(join(dir, ILLUMINATION_MARKER))).toBe(true);
    const C = big.channels.length, n = big.height * big.width;
    for (const plate of ['P1', 'P2']) {
      const sites = [...big.pixels.entries()].filter(([k]) => k.startsWith(`${plate}/`)).map(([, px]) => px);
      big.channels.forEach((ch, c) => {
        const est = parseNpy(readFileSync(ds.illumination.plates[plate][ch]), ch);
        expect(est.shape).toEqual([big.height, big.width]);
        // The plumbing: the plate's mean image (float64, from the pixels as written), the disk
        // median, the robust rescale, composed here by hand.
        const mean = new Float64Array(n);
        for (const px of sites) for (let p = 0; p < n; p++) mean[p] += px[p * C + c] / 65535 / sites.length;
        const want = robustRescale(medianFilterDisk(mean, big.height, big.width, 13));
        let worst = 0;
        est.data.forEach((v, p) => (worst = Math.max(worst, Math.abs(v - want[p]))));
        expect(worst).toBeLessThan(1e-5);
        expect(Math.min(...est.data)).toBeCloseTo(1, 6); // robust minimum 1
        // And it follows the true vignette (random cells average out; the median smooths the rest).
        expect(pearson(est.data, big.functions.get(plate)![c]), `${plate} ${ch}`).toBeGreaterThan(0.94);
      });
    }
    // The CSV reads back as a LoadData data set with the same correction.
    const back = await readDataset(join(dir, ILLUMINATION_CSV));
    expect(back.illumination).toMatchObject({ mode: 'loaddata', files: 4 });
    expect(back.rows.map(siteKey)).toEqual(ds.rows.map(siteKey));
    expect(back.rows.map((r) => r.wellType)).toEqual(ds.rows.map((r) => r.wellType));
    for (let i = 0; i < ds.size; i++) expect(Array.from(back.images.getSync(i))).toEqual(Array.from(ds.images.getSync(i)));
    // Same sites, same settings: reused, not recomputed.
    const again = await readDataset(big.csv, { illumination: { mode: 'compute', dir, filterSize: 30, log: (l) => logs.push(l) } });
    expect(logs.at(-1)).toMatch(/reusing the functions computed from the same 18 sites/);
    expect(again.illumination.note).toMatch(/reused/);
    // Shards only reuse: a folder without these sites' functions is an error saying how to make them once.
    expect((await readDataset(big.csv, { illumination: { mode: 'compute', dir, filterSize: 30, reuseOnly: true } })).illumination.files).toBe(4);
    await rejects(readDataset(big.csv, { illumination: { mode: 'compute', dir: join(root, 'not-yet'), reuseOnly: true } }), UserError, /shards must not each compute them.*--illumination-dir/);
    // Compute needs a folder; a folder that is not ours is never replaced.
    await rejects(readDataset(screen.csv, { illumination: 'compute' }), UserError, /--illumination-dir/);
    const foreign = join(root, 'foreign');
    mkdirSync(foreign);
    writeFileSync(join(foreign, 'notes.txt'), 'mine');
    await rejects(readDataset(screen.csv, { illumination: { mode: 'compute', dir: foreign } }), UserError, /foreign/);
    expect(readFileSync(join(foreign, 'notes.txt'), 'utf8')).toBe('mine');
  });
});

describe('the estimate, against independent references', () => {
  it('disk median filter = the lower median of each truncated disk (float64 sort), within one grey level', () => {
    const H = 23, W = 31, r = 4;
    const rng = new Rng(3);
    const img = Float64Array.from({ length: H * W }, (_, p) => Math.sin(p / 17) + rng.normal(0, 0.3));
    const got = medianFilterDisk(img, H, W, r);
    const [min, max] = [Math.min(...img), Math.max(...img)];
    const level = (max - min) / 4096;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const win: number[] = [];
        for (let dy = -r; dy <= r; dy++) for (let dx = -r; dx <= r; dx++) {
          if (dx * dx + dy * dy > r * r) continue;
          const yy = y + dy, xx = x + dx;
          if (yy >= 0 && yy < H && xx >= 0 && xx < W) win.push(img[yy * W + xx]);
        }
        win.sort((a, b) => a - b);
        const want = win[(win.length + 1 >> 1) - 1];
        expect(Math.abs(got[y * W + x] - want), `(${y}, ${x})`).toBeLessThanOrEqual(level);
      }
    }
  });

  it("robust rescale = CellProfiler's (2nd percentile of the positive values, raised and divided), checked with numpy", () => {
    const rng = new Rng(5);
    const v = Float32Array.from({ length: 500 }, () => rng.uniform(-0.2, 2));
    const file = join(root, 'rescale.npy');
    writeFileSync(file, encodeNpy(v, [500]));
    const out = execFileSync('python3', ['-c', `
import numpy as np
p = np.load('${file}').astype(np.float64)
s = np.sort(p[p > 0]); m = s[int(s.shape[0] * 0.02)]
q = p.copy(); q[q < m] = m
print(' '.join(repr(float(x)) for x in q / m))
`], { encoding: 'utf8' }).trim().split(' ').map(Number);
    const got = robustRescale(v);
    out.forEach((x, i) => expect(got[i]).toBeCloseTo(x, 5));
  });

  it('a large filter (shrunk, filtered, interpolated back) matches the direct filter on a smooth field', () => {
    const H = 96, W = 96;
    const f = vignette(H, W, 0.6, 0.3);
    const big = illuminationFunction(f, H, W, 2.35 * 20); // radius 20: shrunk by 2
    const direct = robustRescale(medianFilterDisk(f, H, W, 20));
    let worst = 0, sum = 0;
    for (let p = 0; p < H * W; p++) {
      const e = Math.abs(big[p] - direct[p]) / direct[p];
      worst = Math.max(worst, e);
      sum += e;
    }
    expect(worst).toBeLessThan(0.02);
    expect(sum / (H * W)).toBeLessThan(0.003);
  });
});

function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0, mb = 0;
  for (let i = 0; i < n; i++) (ma += a[i]), (mb += b[i]);
  ma /= n;
  mb /= n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}
