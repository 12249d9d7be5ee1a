import { describe, expect, it, beforeAll } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync, rmSync, cpSync, truncateSync, statSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSynthetic, drawWorld, renderSite } from '../../src/data/synth/generate.ts';
import { resolveSynthConfig } from '../../src/data/synth/config.ts';
import { readDataset } from '../../src/data/readers/index.ts';
import { encodePng } from '../../src/data/decode.ts';
import { isUserError } from '../../src/util/errors.ts';

const tmp = mkdtempSync(join(tmpdir(), 'ben-readers-'));
const small = { seed: 3, treatments: 2, cellTypes: 1, platesPerExperiment: 2, wellsPerTreatment: 1, negativeControlWells: 1, positiveControls: 0 };

/** Expected pixels of every site straight from the generator, keyed by experiment/plate/well/site. */
function expectedPixels(cfg: ReturnType<typeof resolveSynthConfig>): Map<string, Uint8Array | Uint16Array> {
  const world = drawWorld(cfg);
  const out = new Map<string, Uint8Array | Uint16Array>();
  world.plates.forEach((p, pi) => p.wells.forEach((w, wi) => {
    for (let s = 1; s <= cfg.sitesPerWell; s++) out.set(`${p.experiment}/${p.plate}/${w.well}/${s}`, renderSite(cfg, world, { plateIndex: pi, wellIndex: wi, site: s }));
  }));
  return out;
}

describe('readers round-trip the generated data set in each layout', () => {
  for (const [layout, bitDepth] of [['rxrx1-wilds', 8], ['rxrx1', 8], ['loaddata-csv', 8], ['loaddata-csv', 16]] as const) {
    it(`${layout} ${bitDepth}-bit`, async () => {
      const cfg = resolveSynthConfig('tiny', { ...small, layout, bitDepth });
      const dir = join(tmp, `${layout}-${bitDepth}`);
      await generateSynthetic(cfg, dir);
      const ds = await readDataset(dir); // layout detected
      expect(ds.layout).toBe(layout);
      const want = expectedPixels(cfg);
      expect(ds.size).toBe(want.size);
      expect(ds.dtype).toBe(bitDepth === 16 ? 'uint16' : 'uint8');
      expect(ds.channels).toHaveLength(3);
      for (let i = 0; i < ds.size; i++) {
        const r = ds.rows[i];
        const plate = layout === 'loaddata-csv' ? r.plate.split('_P')[1] : r.plate;
        const exp = want.get(`${r.experiment}/${plate}/${r.well}/${r.site}`);
        expect(exp, r.siteId).toBeDefined();
        expect(Buffer.from(ds.images.getSync(i).buffer, ds.images.getSync(i).byteOffset, ds.images.getSync(i).byteLength).equals(Buffer.from(exp!.buffer, exp!.byteOffset, exp!.byteLength)), r.siteId).toBe(true);
      }
      const labels = new Set(ds.rows.map((r) => r.label));
      expect(labels).toEqual(new Set(['siRNA-01', 'siRNA-02', 'EMPTY']));
      expect(ds.rows.filter((r) => r.label === 'EMPTY').every((r) => r.wellType === 'negative_control')).toBe(true);
      expect(new Set(ds.rows.map((r) => r.split))).toEqual(new Set(layout === 'rxrx1' ? ['train', 'test'] : ['train', 'id_test', 'test']));
    });
  }

  it('streams from disk when not loaded, with the same pixels', async () => {
    const dir = join(tmp, 'rxrx1-wilds-8');
    const lazy = await readDataset(dir, { load: false });
    const mem = await readDataset(dir);
    expect(lazy.images.inMemory).toBe(false);
    expect(Array.from(await lazy.images.get(5))).toEqual(Array.from(mem.images.getSync(5)));
    const loaded = await lazy.split('test').load();
    expect(loaded.images.inMemory).toBe(true);
    expect(loaded.size).toBe(mem.split('test').size);
  });

  it('reads the CellProfiler columns of a real LoadData-style export (BBBC021, Image_ prefix) down to the missing images', async () => {
    // Real BBBC021 image table: metadata parses, then the first image is reported missing by name.
    const src = '/work/shared/data/peers/cytominergallery/BBBC021_v1_image.csv.gz';
    const { gunzipSync } = await import('node:zlib');
    const text = gunzipSync(readFileSync(src)).toString('utf8').split('\n').slice(0, 6).join('\n');
    const csv = join(tmp, 'bbbc021.csv');
    writeFileSync(csv, text.replace(/Image_Metadata_Plate_DAPI/, 'Metadata_Plate').replace(/Image_Metadata_Well_DAPI/, 'Metadata_Well'));
    await expect(readDataset(csv, { layout: 'loaddata-csv' })).rejects.toThrow(/Plate Week4_27481 .*has no images: folder .*Week4\/Week4_27481 is missing/);
  });
});

/** Expects `p` to reject with a UserError whose message matches every pattern. */
async function expectUserError(p: Promise<unknown>, ...patterns: RegExp[]): Promise<void> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(isUserError(err), String(err)).toBe(true);
  for (const re of patterns) expect((err as Error).message).toMatch(re);
}

describe('bad input: a UserError naming the file and the fix, or skipped with --skip-bad', () => {
  let base: string;
  let cfg: ReturnType<typeof resolveSynthConfig>;
  const fresh = (name: string) => {
    const d = join(tmp, 'bad', name);
    cpSync(base, d, { recursive: true });
    return d;
  };
  const total = () => readFileSync(join(base, 'metadata.csv'), 'utf8').trim().split('\n').length - 1;
  beforeAll(async () => {
    cfg = resolveSynthConfig('tiny', small);
    base = join(tmp, 'bad-base');
    await generateSynthetic(cfg, base);
  });

  it('missing file', async () => {
    const d = fresh('missing');
    const f = join(d, 'images', 'HEPG2-01', 'Plate1');
    const victim = readFileSync(join(d, 'metadata.csv'), 'utf8').split('\n')[1].split(',');
    const file = join(f, `${victim[6]}_s${victim[7]}.png`);
    rmSync(file);
    await expectUserError(readDataset(d), new RegExp(file.replace(/[.]/g, '\\.')), /does not exist/, /--skip-bad/);
    const ds = await readDataset(d, { skipBad: true });
    expect(ds.skipped).toHaveLength(1);
    expect(ds.skipped[0].file).toBe(file);
    expect(ds.size).toBe(total() - 1);
  });

  it('corrupt and truncated PNG', async () => {
    const d = fresh('corrupt');
    const f1 = join(d, 'images', 'HEPG2-01', 'Plate1');
    const files = readFileSync(join(d, 'metadata.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(',')).filter((v) => v[4] === 'HEPG2-01' && v[5] === '1').map((v) => join(f1, `${v[6]}_s${v[7]}.png`));
    writeFileSync(files[0], 'not a png at all');
    truncateSync(files[1], Math.floor(statSync(files[1]).size / 2));
    await expectUserError(readDataset(d), /corrupt or truncated/, /--skip-bad/);
    const ds = await readDataset(d, { skipBad: true });
    expect(ds.skipped.map((s) => s.file).sort()).toEqual([files[0], files[1]].sort());
    expect(ds.size).toBe(total() - 2);
  });

  it('truncated TIFF (LoadData, 16-bit)', async () => {
    const c16 = resolveSynthConfig('tiny', { ...small, layout: 'loaddata-csv', bitDepth: 16 });
    const d = join(tmp, 'bad', 'tiff');
    await generateSynthetic(c16, d);
    const line = readFileSync(join(d, 'load_data.csv'), 'utf8').split('\n')[1].split(',');
    const file = join(d, line[10], line[9]);
    truncateSync(file, Math.floor(statSync(file).size / 3));
    await expectUserError(readDataset(d), new RegExp(line[9]), /corrupt or truncated/);
    expect((await readDataset(d, { skipBad: true })).skipped).toHaveLength(1);
  });

  it('wrong size and wrong channel count', async () => {
    const d = fresh('shape');
    const rows = readFileSync(join(d, 'metadata.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
    const path = (v: string[]) => join(d, 'images', v[4], `Plate${v[5]}`, `${v[6]}_s${v[7]}.png`);
    writeFileSync(path(rows[3]), await encodePng(new Uint8Array(16 * 16 * 3), 16, 16, 3));
    writeFileSync(path(rows[4]), await encodePng(new Uint8Array(32 * 32), 32, 32, 1));
    await expectUserError(readDataset(d), new RegExp(`${rows[3][6]}_s${rows[3][7]}\\.png`), /is 16x16x3 uint8, but the data set's images are 32x32x3/);
    const ds = await readDataset(d, { skipBad: true });
    expect(ds.skipped).toHaveLength(2);
    expect(ds.skipped.map((s) => s.reason).join()).toMatch(/32x32x1/);
  });

  it('metadata missing a column', async () => {
    const d = fresh('column');
    const text = readFileSync(join(d, 'metadata.csv'), 'utf8').split('\n').map((l) => l.split(',').filter((_, j) => j !== 8).join(',')).join('\n');
    writeFileSync(join(d, 'metadata.csv'), text);
    await expectUserError(readDataset(d, { layout: 'rxrx1-wilds' }), /metadata\.csv is missing column\(s\) well_type/);
  });

  it('duplicate site', async () => {
    const d = fresh('dup');
    const lines = readFileSync(join(d, 'metadata.csv'), 'utf8').trim().split('\n');
    writeFileSync(join(d, 'metadata.csv'), [...lines, lines[2]].join('\n') + '\n');
    await expectUserError(readDataset(d), new RegExp(`line ${lines.length + 1}`), /duplicate site/, /already at .*line 3/);
    const ds = await readDataset(d, { skipBad: true });
    expect(ds.size).toBe(total());
    expect(ds.skipped).toHaveLength(1);
  });

  it('empty plate (folder without images) and empty plate id', async () => {
    const d = fresh('emptyplate');
    const dir = join(d, 'images', 'HEPG2-01', 'Plate2');
    rmSync(dir, { recursive: true });
    mkdirSync(dir);
    await expectUserError(readDataset(d), /Plate HEPG2-01\/2/, /folder .*Plate2 is empty/);
    const ds = await readDataset(d, { skipBad: true });
    const perPlate = total() / (cfg.platesPerExperiment * 2);
    expect(ds.skipped).toHaveLength(perPlate);
    expect(ds.plates()).not.toContain('HEPG2-01/2');

    const d2 = fresh('noplate');
    const lines = readFileSync(join(d2, 'metadata.csv'), 'utf8').trim().split('\n');
    const v = lines[1].split(',');
    v[5] = '';
    lines[1] = v.join(',');
    writeFileSync(join(d2, 'metadata.csv'), lines.join('\n') + '\n');
    await expectUserError(readDataset(d2, { layout: 'rxrx1-wilds' }), /metadata\.csv line 2: the plate is empty/);
  });
});
