/**
 * Crops at nuclei given by CellProfiler instead of detected ones: the same centres read from a
 * table (CSV, CSV.gz, Parquet), from CellProfiler's per-object + per-image tables and from
 * DeepProfiler's locations/ folder give the same crops, cut at exactly those centres (checked
 * against the image window sliced by hand); sites without rows and centres outside the image; and
 * on real BBBC013 fields, centres that equal ben's own detections give bit-identical crops.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { readDataset } from '../../src/data/readers/index.ts';
import { cellCrops, cropStart } from '../../src/data/cells/crops.ts';
import { readLocations } from '../../src/data/cells/locations.ts';
import { toCsv } from '../../src/data/csv.ts';
import type { Dataset } from '../../src/data/image-dataset.ts';
import { DataError, UserError } from '../../src/util/errors.ts';
import { writeScreen, type Screen } from './screen-fixtures.ts';

const root = mkdtempSync(join(tmpdir(), 'ben-locations-'));
let screen: Screen;
let ds: Dataset;
/** Three centres per site (the last site of plate P2 left out), fractional, near the edges too. */
const centres: { plate: string; well: string; site: number; x: number; y: number }[] = [];
beforeAll(async () => {
  screen = await writeScreen(join(root, 'screen'), { illumColumns: false });
  ds = await readDataset(screen.csv);
  for (const r of ds.rows) {
    if (r.plate === 'P2' && r.well === 'A03' && r.site === 2) continue;
    const k = r.site + Number(r.well.slice(1));
    for (const [x, y] of [[3.25 + k, 5.5], [20.75, 17.125 + k], [46.4, 38.6]]) centres.push({ plate: r.plate, well: r.well, site: r.site, x, y });
  }
});

const SIZE = 12;

/** The crops' pixels and centres, by cell id, to compare runs. */
function summary(d: Dataset): Map<string, { x: string; y: string; px: number[] }> {
  return new Map(d.rows.map((r, i) => [r.siteId, { x: r.extra.CellX, y: r.extra.CellY, px: Array.from(d.images.getSync(i)) }]));
}

describe('nuclei centres given by CellProfiler', () => {
  it('a Metadata_Plate/Well/Site table: crops cut at exactly those centres, CellX/Y as given, sites without rows listed once', async () => {
    const csv = join(root, 'nuclei.csv');
    writeFileSync(csv, toCsv(['Metadata_Plate', 'Metadata_Well', 'Metadata_Site', 'ObjectNumber', 'Nuclei_Location_Center_X', 'Nuclei_Location_Center_Y', 'Nuclei_AreaShape_Area'],
      centres.map((c, i) => [c.plate, c.well.replace('A0', 'A'), c.site, i + 1, c.x, c.y, 40])));
    const loc = await readLocations(csv);
    expect(loc.columns).toEqual({ x: 'Nuclei_Location_Center_X', y: 'Nuclei_Location_Center_Y' });
    const r = await cellCrops(ds, { size: SIZE, locations: loc });
    expect(r.data.size).toBe(centres.length);
    expect(r.withoutLocations).toEqual(['P2_A03_2']);
    expect(r.notice).toMatch(/1 of 12 sites have no rows in nuclei\.csv \(33 centres, 11 sites\) and give no cells: P2_A03_2/);
    expect(r.sites.find((s) => s.siteId === 'P2_A03_2')).toEqual({ siteId: 'P2_A03_2', detected: 0, kept: 0 });
    const C = screen.channels.length;
    r.data.rows.forEach((row, j) => {
      const c = centres[j];
      expect([row.plate, row.well, row.site]).toEqual([c.plate, c.well, c.site]);
      expect([row.extra.CellX, row.extra.CellY]).toEqual([String(c.x), String(c.y)]);
      // The window by hand: top-left round(c - size/2), moved inside the field.
      const y0 = Math.min(Math.max(Math.round(c.y - SIZE / 2), 0), screen.height - SIZE), x0 = Math.min(Math.max(Math.round(c.x - SIZE / 2), 0), screen.width - SIZE);
      expect([y0, x0]).toEqual([cropStart(c.y, screen.height, SIZE), cropStart(c.x, screen.width, SIZE)]);
      const src = screen.pixels.get(`${c.plate}/${c.well}/${c.site}`)!;
      const want: number[] = [];
      for (let y = y0; y < y0 + SIZE; y++) for (let x = x0; x < x0 + SIZE; x++) for (let ch = 0; ch < C; ch++) want.push(src[(y * screen.width + x) * C + ch]);
      expect(Array.from(r.data.images.getSync(j))).toEqual(want);
    });
  });

  it('CSV.gz, Parquet, per-object + per-image tables and the DeepProfiler folder give the same crops', async () => {
    const ref = summary((await cellCrops(ds, { size: SIZE, locations: await readLocations(join(root, 'nuclei.csv')) })).data);
    // CSV.gz, plain Location_Center_X/Y with CellProfiler's database-export Image_ prefix.
    const gz = join(root, 'nuclei.csv.gz');
    writeFileSync(gz, gzipSync(toCsv(['Image_Metadata_Plate', 'Image_Metadata_Well', 'Image_Metadata_Site', 'Location_Center_X', 'Location_Center_Y'], centres.map((c) => [c.plate, c.well, c.site, c.x, c.y]))));
    // Parquet, float64 centres.
    const pq = join(root, 'nuclei.parquet');
    writeFileSync(pq, Buffer.from(parquetWriteBuffer({ columnData: [
      { name: 'Metadata_Plate', data: centres.map((c) => c.plate), type: 'STRING' },
      { name: 'Metadata_Well', data: centres.map((c) => c.well), type: 'STRING' },
      { name: 'Metadata_Site', data: Int32Array.from(centres.map((c) => c.site)), type: 'INT32' },
      { name: 'Nuclei_Location_Center_X', data: Float64Array.from(centres.map((c) => c.x)), type: 'DOUBLE' },
      { name: 'Nuclei_Location_Center_Y', data: Float64Array.from(centres.map((c) => c.y)), type: 'DOUBLE' },
    ] })));
    // CellProfiler's per-object table keyed by ImageNumber, with its per-image table.
    const images = [...new Map(centres.map((c) => [`${c.plate}/${c.well}/${c.site}`, c])).values()];
    const number = new Map(images.map((c, i) => [`${c.plate}/${c.well}/${c.site}`, i + 1]));
    const imageCsv = join(root, 'Image.csv');
    writeFileSync(imageCsv, toCsv(['ImageNumber', 'Metadata_Plate', 'Metadata_Well', 'Metadata_Site', 'FileName_OrigDNA'], images.map((c, i) => [i + 1, c.plate, c.well, c.site, 'x.tiff'])));
    const objCsv = join(root, 'Nuclei.csv');
    writeFileSync(objCsv, toCsv(['ImageNumber', 'ObjectNumber', 'Location_Center_X', 'Location_Center_Y'], centres.map((c, i) => [number.get(`${c.plate}/${c.well}/${c.site}`)!, i + 1, c.x, c.y])));
    // DeepProfiler: locations/<plate>/<well>-<site>-Nuclei.csv.
    const dp = join(root, 'locations');
    for (const c of images) {
      mkdirSync(join(dp, c.plate), { recursive: true });
      const own = centres.filter((d) => d.plate === c.plate && d.well === c.well && d.site === c.site);
      writeFileSync(join(dp, c.plate, `${c.well}-${c.site}-Nuclei.csv`), toCsv(['Nuclei_Location_Center_X', 'Nuclei_Location_Center_Y'], own.map((d) => [d.x, d.y])));
    }
    for (const [name, loc] of [['csv.gz', await readLocations(gz)], ['parquet', await readLocations(pq)], ['per-object', await readLocations(objCsv, { images: imageCsv })], ['deepprofiler', await readLocations(dp)]] as const) {
      const got = summary((await cellCrops(ds, { size: SIZE, locations: loc })).data);
      expect([...got.keys()], name).toEqual([...ref.keys()]);
      for (const [k, v] of got) expect(v, `${name} ${k}`).toEqual(ref.get(k));
    }
  });

  it('bad inputs: a centre outside its image, an unknown ImageNumber, missing tables or columns, repeated plate ids', async () => {
    const out = join(root, 'outside.csv');
    writeFileSync(out, toCsv(['Metadata_Plate', 'Metadata_Well', 'Metadata_Site', 'Location_Center_X', 'Location_Center_Y'], [['P1', 'A01', 1, 10, 10], ['P1', 'A02', 2, 48.2, 3]]));
    const e = await cellCrops(ds, { size: SIZE, locations: await readLocations(out) }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DataError);
    expect((e as Error).message).toMatch(/Locations .*outside\.csv line 3: centre \(48\.2, 3\) of site P1_A02_2 \(plate P1, well A02, site 2\) is outside its 48x40 image/);
    await expect(readLocations(join(root, 'Nuclei.csv'))).rejects.toThrow(/names its sites by ImageNumber only: .*--locations-images/);
    const img = join(root, 'Image-short.csv');
    writeFileSync(img, toCsv(['ImageNumber', 'Metadata_Plate', 'Metadata_Well', 'Metadata_Site'], [[1, 'P1', 'A01', 1]]));
    await expect(readLocations(join(root, 'Nuclei.csv'), { images: img })).rejects.toThrow(/Nuclei\.csv line 5: ImageNumber 2 is not in the per-image table .*Image-short\.csv/);
    await expect(readLocations(join(root, 'nope.csv'))).rejects.toThrow(UserError);
    const noXY = join(root, 'noxy.csv');
    writeFileSync(noXY, 'Metadata_Plate,Metadata_Well,Metadata_Site,AreaShape_Area\nP1,A01,1,3\n');
    await expect(readLocations(noXY)).rejects.toThrow(/has no Location_Center_X \/ Location_Center_Y columns/);
    const none = join(root, 'elsewhere.csv');
    writeFileSync(none, toCsv(['Metadata_Plate', 'Metadata_Well', 'Metadata_Site', 'Location_Center_X', 'Location_Center_Y'], [['Q9', 'A01', 1, 10, 10]]));
    await expect(cellCrops(ds, { size: SIZE, locations: await readLocations(none) })).rejects.toThrow(/none of the 12 sites .* has a centre in .*elsewhere\.csv .*first site is P1\/A01\/1, the table's first is Q9\/A01\/1/);
    // The same plate id in two experiments: the table must name the experiment.
    const twoExp = join(root, 'two-exp');
    mkdirSync(twoExp);
    const lines = ['Metadata_Experiment,Metadata_Plate,Metadata_Well,Metadata_Site,FileName_OrigDNA,PathName_OrigDNA'];
    for (const e2 of ['E1', 'E2']) lines.push(`${e2},P1,A01,1,P1_A01_s1_DNA.tif,${join(screen.dir, 'images', 'P1')}`);
    writeFileSync(join(twoExp, 'load_data.csv'), lines.join('\n') + '\n');
    const two = await readDataset(join(twoExp, 'load_data.csv'));
    await expect(cellCrops(two, { size: SIZE, locations: await readLocations(join(root, 'nuclei.csv')) })).rejects.toThrow(/plate P1 is in experiments E1 and E2 .* add the experiment columns \(Metadata_Experiment\)/);
    const withExp = join(root, 'with-exp.csv');
    writeFileSync(withExp, toCsv(['Metadata_Experiment', 'Metadata_Plate', 'Metadata_Well', 'Metadata_Site', 'Location_Center_X', 'Location_Center_Y'], [['E2', 'P1', 'A01', 1, 30, 20]]));
    const r = await cellCrops(two, { size: SIZE, locations: await readLocations(withExp, { experimentColumns: ['Metadata_Experiment'] }) });
    expect(r.data.rows.map((x) => x.experiment)).toEqual(['E2']);
    expect(r.withoutLocations).toEqual(['E1_P1_A01_1']);
  });
});

const BBBC013 = resolve('../shared/data/real/images/bbbc013');
describe.skipIf(!existsSync(BBBC013))('given centres on real BBBC013 fields', () => {
  it("centres equal to ben's own detections, as CellProfiler's Nuclei.csv + Image.csv, give bit-identical crops", async () => {
    const all = await readDataset(BBBC013, { layout: 'image-folder', pattern: 'Channel(?<ch>\\d)-\\d+-(?<row>[A-H])-(?<col>\\d+)\\.tif', channelNames: { '1': 'GFP', '2': 'DNA' }, channels: ['DNA', 'GFP'], plateMap: '1049_Metadata.csv', load: false });
    const sites = all.filter((r) => ['A01', 'D06', 'H12'].includes(r.well));
    const found: { i: number; x: number; y: number }[] = [];
    const detected = await cellCrops(sites, { size: 48, maxPerSite: 10, onDetected: (i, _s, det) => det.nuclei.forEach((n) => found.push({ i, x: n.x, y: n.y })) });
    expect(found.length).toBeGreaterThan(30);
    writeFileSync(join(root, 'bbbc-Image.csv'), toCsv(['ImageNumber', 'Metadata_Plate', 'Metadata_Well', 'Metadata_Site'], sites.rows.map((r, i) => [i + 1, r.plate, r.well, r.site])));
    writeFileSync(join(root, 'bbbc-Nuclei.csv'), toCsv(['ImageNumber', 'ObjectNumber', 'Location_Center_X', 'Location_Center_Y'], found.map((f, k) => [f.i + 1, k + 1, f.x, f.y])));
    const loc = await readLocations(join(root, 'bbbc-Nuclei.csv'), { images: join(root, 'bbbc-Image.csv') });
    const given = await cellCrops(sites, { size: 48, maxPerSite: 10, locations: loc });
    expect(given.data.size).toBe(detected.data.size);
    given.data.rows.forEach((r, j) => {
      const d = detected.data.rows[j];
      expect(r.siteId).toBe(d.siteId);
      expect(Number(r.extra.CellX)).toBeCloseTo(Number(d.extra.CellX), 1); // detected: 0.1 px; given: as written
      expect(Array.from(given.data.images.getSync(j))).toEqual(Array.from(detected.data.images.getSync(j)));
    });
  });
});
