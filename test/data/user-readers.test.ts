/**
 * The readers of a user's own images (LoadData CSV in CellProfiler / JUMP conventions, a folder
 * of images + a plate map) on small generated fixtures: the options work, and every bad input
 * gives one UserError naming the file and the field.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { encodeTiff } from '../../src/data/decode.ts';
import { readDataset } from '../../src/data/readers/index.ts';
import { readRecipeData } from '../../src/recipe/data.ts';
import { validateRecipe } from '../../src/recipe/load.ts';
import { UserError } from '../../src/util/errors.ts';

const root = mkdtempSync(join(tmpdir(), 'ben-user-readers-'));
const W = 8, H = 6;
/** Pixel value of channel `ch` of well (r, c): distinct per file so stacking order is checked. */
const value = (ch: number, r: number, c: number) => 10 * ch + 3 * r + c;
const ROWS = ['A', 'B'];
const COLS = [1, 2, 3];

async function tiff(path: string, v: number, bits: 8 | 16 = 8): Promise<void> {
  const data = bits === 8 ? new Uint8Array(W * H).fill(v) : new Uint16Array(W * H).fill(v * 100);
  writeFileSync(path, await encodeTiff(data, W, H));
}

/** A folder like BBBC013: Channel<c>-<NN>-<Row>-<Col>.tif for 2 channels x 6 wells, plus a plate map. */
async function makeFolder(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  let n = 0;
  const map = ['ImageNumber,Column,Row,Compound,Dose'];
  for (const [r, row] of ROWS.entries()) {
    for (const c of COLS) {
      n++;
      for (const ch of [1, 2]) await tiff(join(dir, `Channel${ch}-${String(n).padStart(2, '0')}-${row}-${String(c).padStart(2, '0')}.tif`), value(ch, r, c));
      map.push(`${n},${String(c).padStart(2, '0')},${row},${c === 1 ? 'DMSO' : c === 2 ? 'drugA' : 'staurosporine'},${c - 1}`);
    }
  }
  writeFileSync(join(dir, 'plate_map.csv'), map.join('\n') + '\n');
}

const PATTERN = 'Channel(?<ch>\\d)-\\d+-(?<row>[A-H])-(?<col>\\d+)\\.tif';
const FOLDER_OPTS = { layout: 'image-folder', pattern: PATTERN, plateMap: 'plate_map.csv', channelNames: { '1': 'GFP', '2': 'DNA' }, labelColumn: 'Compound' };

/** A JUMP-style LoadData CSV (FileName_Orig<Ch>, PathName relative and absolute, Source/Batch, control type). */
async function makeLoadData(dir: string): Promise<string> {
  mkdirSync(join(dir, 'images'), { recursive: true });
  const chans = ['AGP', 'DNA', 'Mito'];
  const header = ['Metadata_Source', 'Metadata_Batch', 'Metadata_Plate', 'Metadata_Well', 'Metadata_Site', 'Metadata_control_type', 'Metadata_JCP2022',
    ...chans.flatMap((c) => [`FileName_Orig${c}`, `PathName_Orig${c}`]), 'FileName_IllumDNA', 'PathName_IllumDNA'];
  const lines = [header.join(',')];
  const rows = [['src1', 'b1', 'P1', 'A01', '1', 'negcon', 'JCP-DMSO'], ['src1', 'b1', 'P1', 'A02', '1', 'trt', 'JCP-1'], ['src2', 'b9', 'P1', 'A01', '1', 'poscon_cp', 'JCP-2']];
  for (const [k, m] of rows.entries()) {
    const files = [];
    for (const [ci, c] of chans.entries()) {
      const f = `${m[0]}_${m[3]}_${c}.tiff`;
      await tiff(join(dir, 'images', f), 7 * k + ci + 1, 16);
      // One absolute PathName, the rest relative to the CSV's folder.
      files.push(f, k === 2 && c === 'Mito' ? resolve(dir, 'images') : 'images');
    }
    lines.push([...m, ...files, 'illum.npy', 'illum'].join(','));
  }
  const csv = join(dir, 'load_data.csv');
  writeFileSync(csv, lines.join('\n') + '\n');
  return csv;
}

/** Expects a UserError whose message matches every pattern. */
async function userError(p: Promise<unknown>, ...patterns: RegExp[]): Promise<string> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e, 'expected a UserError').toBeInstanceOf(UserError);
  const msg = (e as Error).message;
  for (const re of patterns) expect(msg).toMatch(re);
  return msg;
}

const esc = (s: string) => new RegExp(s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));

let folder: string, csv: string;
beforeAll(async () => {
  folder = join(root, 'plate');
  await makeFolder(folder);
  csv = await makeLoadData(join(root, 'jump'));
});

describe('image-folder reader', () => {
  it('parses file names with the pattern, stacks channels in the asked order, joins the plate map on the well', async () => {
    const ds = await readDataset(folder, { ...FOLDER_OPTS, channels: ['DNA', 'GFP'], negativeControls: { Compound: 'DMSO' }, positiveControls: { Compound: 'staurosporine' } });
    expect(ds.summary()).toMatchObject({ images: 6, plates: 1, wells: 6, channels: ['DNA', 'GFP'], plateKeys: ['plate'], splits: { all: 6 } });
    expect(ds.rows.map((r) => r.well)).toEqual(['A01', 'A02', 'A03', 'B01', 'B02', 'B03']);
    expect(ds.rows.map((r) => r.wellType)).toEqual(['negative_control', 'treatment', 'positive_control', 'negative_control', 'treatment', 'positive_control']);
    expect(ds.rows[4]).toMatchObject({ label: 'drugA', extra: { Metadata_Dose: '1', Metadata_Compound: 'drugA' } });
    ds.rows.forEach((r, i) => {
      const [row, col] = [ROWS.indexOf(r.well[0]), Number(r.well.slice(1))];
      expect(Array.from(ds.images.getSync(i).slice(0, 2))).toEqual([value(2, row, col), value(1, row, col)]); // DNA (ch 2), then GFP
    });
    // Without channelNames the channels are the ch values, in natural order; a named plate.
    const plain = await readDataset(folder, { layout: 'image-folder', pattern: PATTERN, plate: 'P7' });
    expect(plain.channels).toEqual(['1', '2']);
    expect(plain.rows[0]).toMatchObject({ plate: 'P7', label: '', wellType: 'treatment' });
  });

  it('plate, well and site groups; PNG files; the plate map joined on plate and well', async () => {
    const dir = join(root, 'multi');
    mkdirSync(dir);
    const { encodePng } = await import('../../src/data/decode.ts');
    for (const plate of ['P1', 'P2']) for (const well of ['A01', 'B12']) for (const site of [1, 2]) for (const ch of [1, 2]) {
      writeFileSync(join(dir, `${plate}_${well}_s${site}_w${ch}.png`), await encodePng(new Uint8Array(W * H).fill(plate === 'P1' ? ch : 10 + ch), W, H, 1));
    }
    writeFileSync(join(dir, 'map.csv'), 'Plate,Well,Treatment\nP1,A1,DMSO\nP1,B12,x\nP2,A01,y\nP2,B12,DMSO\n');
    const ds = await readDataset(dir, { layout: 'image-folder', pattern: '(?<plate>P\\d)_(?<well>[A-H]\\d+)_s(?<site>\\d)_w(?<ch>\\d)\\.png', plateMap: 'map.csv' });
    expect(ds.summary()).toMatchObject({ images: 8, plates: 2, wells: 4, plateKeys: ['P1', 'P2'], channels: ['1', '2'] });
    expect(ds.rows.map((r) => `${r.plate}/${r.well}/${r.site}:${r.label}:${r.wellType}`)).toEqual([
      'P1/A01/1:DMSO:negative_control', 'P1/A01/2:DMSO:negative_control', 'P1/B12/1:x:treatment', 'P1/B12/2:x:treatment',
      'P2/A01/1:y:treatment', 'P2/A01/2:y:treatment', 'P2/B12/1:DMSO:negative_control', 'P2/B12/2:DMSO:negative_control',
    ]);
    expect(Array.from(ds.images.getSync(4).slice(0, 2))).toEqual([11, 12]);
  });

  it('bad inputs: one message naming the file and the field', async () => {
    await userError(readDataset(join(root, 'nope'), FOLDER_OPTS), /nope does not exist/, /data\.path/);
    const empty = join(root, 'empty');
    mkdirSync(empty);
    await userError(readDataset(empty, FOLDER_OPTS), esc(empty), /no \.tif, \.tiff or \.png files/);
    await userError(readDataset(folder, { ...FOLDER_OPTS, pattern: undefined }), /needs a file-name pattern/, /data\.pattern/);
    await userError(readDataset(folder, { ...FOLDER_OPTS, pattern: 'Chan(?<ch>\\d' }), /data\.pattern \(--pattern\) "Chan\(\?<ch>\\d" is not a valid regular expression/);
    await userError(readDataset(folder, { ...FOLDER_OPTS, pattern: 'Channel(?<ch>\\d)-.*\\.tif' }), /has no well: add a named group \(\?<well>\.\.\.\) or both \(\?<row>/, /Groups found: ch/);
    await userError(readDataset(folder, { ...FOLDER_OPTS, pattern: 'Image(?<ch>\\d)-\\d+-(?<row>[A-H])-(?<col>\\d+)\\.tif' }), /matches none of the 12 images in/, esc(folder), /Channel1-01-A-01\.tif/);
    await userError(readDataset(folder, { ...FOLDER_OPTS, channels: ['DNA', 'RNA'] }), /Channel "RNA" \(data\.channels, --channels\)/, /channels GFP, DNA/);
    await userError(readDataset(folder, { ...FOLDER_OPTS, labelColumn: 'Treatment' }), /data\.labelColumn \(--label-column\) "Treatment"/, /plate_map\.csv has no such column/, /Columns: ImageNumber, Column, Row, Compound, Dose/);
    await userError(readDataset(folder, { ...FOLDER_OPTS, negativeControls: { Vehicle: 'DMSO' } }), /data\.negativeControls \(--negative-control\) column "Vehicle"/, /plate_map\.csv/);

    // A well in the images but not in the plate map: named with the image and the plate map; --skip-bad counts it.
    const extra = join(root, 'extra-well');
    cpSync(folder, extra, { recursive: true });
    await tiff(join(extra, 'Channel1-07-C-01.tif'), 1);
    await tiff(join(extra, 'Channel2-07-C-01.tif'), 2);
    await userError(readDataset(extra, FOLDER_OPTS), /Channel1-07-C-01\.tif: well C01 is not in the plate map .*plate_map\.csv/, /--skip-bad/);
    const skipped = await readDataset(extra, { ...FOLDER_OPTS, skipBad: true });
    expect([skipped.size, skipped.skipped.length]).toEqual([6, 1]);

    // A site missing one channel's file.
    const gap = join(root, 'missing-channel');
    cpSync(folder, gap, { recursive: true });
    rmSync(join(gap, 'Channel2-05-B-02.tif'));
    await userError(readDataset(gap, FOLDER_OPTS), /Channel1-05-B-02\.tif: well B02 site 1 has no image for channel\(s\) DNA/);

    // Mixed bit depths: one 16-bit file among 8-bit ones.
    const mixed = join(root, 'mixed-depth');
    cpSync(folder, mixed, { recursive: true });
    await tiff(join(mixed, 'Channel2-02-A-02.tif'), 5, 16);
    await userError(readDataset(mixed, FOLDER_OPTS), /Channel2-02-A-02\.tif/, /uint16/, /uint8/);

    // A plate map with a header only, or without a well column.
    const hdr = join(root, 'header-only');
    cpSync(folder, hdr, { recursive: true });
    writeFileSync(join(hdr, 'plate_map.csv'), 'ImageNumber,Column,Row,Compound,Dose\n');
    await userError(readDataset(hdr, FOLDER_OPTS), /Plate map .*plate_map\.csv has a header but no rows/);
    writeFileSync(join(hdr, 'plate_map.csv'), 'Compound,Dose\nDMSO,0\n');
    await userError(readDataset(hdr, FOLDER_OPTS), /plate_map\.csv has no well column/, /data\.plateMapWell \(--plate-map-well\)/);
  });

  it('a folder of images read without a layout says how to read it', async () => {
    await userError(readDataset(folder), /holds images but no metadata\.csv or LoadData CSV/, /--layout image-folder/, /--pattern/);
    await userError(readDataset(join(root, 'empty')), /is an empty folder/);
    await userError(readDataset(join(root, 'gone')), /gone does not exist/);
  });
});

describe('LoadData reader, CellProfiler and JUMP conventions', () => {
  it('Orig channels chosen and ordered by name, illumination columns not applied with none, relative and absolute paths, Source/Batch experiment, control types', async () => {
    // The CSV names a function for DNA only: by default (loaddata, since it names functions) an error naming the first channel without one.
    await userError(readDataset(csv, { channels: ['DNA', 'Mito', 'AGP'] }), esc(`${csv} line 2`), /no illumination function for channel Mito/, /--illumination none/);
    const ds = await readDataset(csv, { channels: ['DNA', 'Mito', 'AGP'], illumination: 'none' });
    expect(ds.illumination).toMatchObject({ mode: 'none', applied: false, note: expect.stringMatching(/names illumination functions; not applied/) });
    expect(ds.channels).toEqual(['DNA', 'Mito', 'AGP']);
    expect(ds.summary()).toMatchObject({ images: 3, experiments: 2, plates: 2, dtype: 'uint16', splits: { all: 3 }, plateKeys: ['src1/b1/P1', 'src2/b9/P1'] });
    expect(ds.rows.map((r) => r.wellType)).toEqual(['negative_control', 'treatment', 'positive_control']);
    expect(ds.rows.map((r) => r.label)).toEqual(['JCP-DMSO', 'JCP-1', 'JCP-2']);
    // Channel order: DNA (file 2 of the row), Mito (3), AGP (1); values 7k + index + 1, x100.
    ds.rows.forEach((_, k) => expect(Array.from(ds.images.getSync(k).slice(0, 3))).toEqual([2, 3, 1].map((c) => (7 * k + c) * 100)));
    const all = await readDataset(csv, { illumination: 'none' });
    expect(all.channels).toEqual(['AGP', 'DNA', 'Mito']); // CSV order, no IllumDNA
    expect(all.split('train').size).toBe(3); // no split column: every row trains and embeds
  });

  it("a recipe's data section sets the same options", async () => {
    const r = validateRecipe({ name: 'x', data: { source: 'loaddata', csv, illumination: 'none', channels: ['Mito', 'DNA'], labelColumn: 'control_type', negativeControls: { Metadata_JCP2022: 'JCP-1' }, intensity: { mode: 'image', low: 1, high: 99 } } });
    const ds = await (await readRecipeData(r.data, csv)).load();
    expect(ds.channels).toEqual(['Mito', 'DNA']);
    expect(ds.rows.map((x) => [x.label, x.wellType])).toEqual([['negcon', 'treatment'], ['trt', 'negative_control'], ['poscon_cp', 'treatment']]);
    expect(ds.summary().intensity).toEqual({ mode: 'image', low: 1, high: 99 });
    // Flat images: every sample at the low percentile, so scaled to 0.
    expect(Array.from(ds.images.getSync(0).slice(0, 4))).toEqual([0, 0, 0, 0]);
    expect(() => validateRecipe({ name: 'x', data: { source: 'loaddata', intensity: { mode: 'plates' } } })).toThrow(/data\.intensity\.mode/);
  });

  it('label, experiment and control columns named by the user', async () => {
    const ds = await readDataset(csv, { illumination: 'none', labelColumn: 'Metadata_control_type', experimentColumn: 'Source', negativeControls: { JCP2022: ['JCP-DMSO', 'JCP-1'] } });
    expect(ds.rows.map((r) => [r.experiment, r.label, r.wellType])).toEqual([
      ['src1', 'negcon', 'negative_control'], ['src1', 'trt', 'negative_control'], ['src2', 'poscon_cp', 'treatment'],
    ]);
    expect(ds.fields).toEqual({ label: 'Metadata_control_type', experiment: 'Metadata_Source', controls: 'negative: Metadata_JCP2022=JCP-DMSO|JCP-1' });
  });

  it('bad inputs: one message naming the file and the field', async () => {
    await userError(readDataset(csv, { channels: ['DNA', 'ER'] }), /Channel "ER" \(data\.channels \/ --channels\)/, esc(csv), /no FileName_ER, FileName_OrigER, URL_ER or URL_OrigER column/, /Its channels: AGP, DNA, Mito/);
    await userError(readDataset(csv, { experimentColumn: 'Metadata_Lab' }), /data\.experimentColumn \(--experiment-column\) "Metadata_Lab"/, esc(csv), /has no such column/);
    const dir = join(root, 'jump');
    const head = join(dir, 'header-only.csv');
    writeFileSync(head, 'Metadata_Plate,Metadata_Well,FileName_OrigDNA,PathName_OrigDNA\n');
    await userError(readDataset(head), esc(head), /has a header but no rows/);
    const noFiles = join(dir, 'no-files.csv');
    writeFileSync(noFiles, 'Metadata_Plate,Metadata_Well\nP1,A01\n');
    await userError(readDataset(noFiles, { layout: 'loaddata-csv' }), esc(noFiles), /has no FileName_<Channel> or URL_<Channel> columns/);
    await userError(readDataset(noFiles), esc(noFiles), /is not a LoadData CSV: it needs Metadata_Plate, Metadata_Well and FileName_<Channel>/);
    const badType = join(dir, 'bad-type.csv');
    writeFileSync(badType, 'Metadata_Plate,Metadata_Well,Metadata_control_type,FileName_OrigDNA,PathName_OrigDNA\nP1,A01,weird,src1_A01_DNA.tiff,images\n');
    await userError(readDataset(badType), /bad-type\.csv line 2: Metadata_control_type "weird" is not one of/);
    expect(readdirSync(dir).sort()).toEqual(['bad-type.csv', 'header-only.csv', 'images', 'load_data.csv', 'no-files.csv']); // nothing written by the reader
  });
});
