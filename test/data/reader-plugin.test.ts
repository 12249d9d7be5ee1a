/**
 * Adding a reader is one file and one registry line: a trivial reader (fixtures/image-list-reader.ts)
 * registered here is detected, takes its option from a recipe (checked when the recipe is read)
 * and from the command line (the flag derives from its declaration), and reads generated and
 * real BBBC013 images. Nothing else in the code base names it.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import yargs from 'yargs';
import { readDataset, readerOptions, readers, readerSourceNames } from '../../src/data/readers/index.ts';
import { validateRecipe } from '../../src/recipe/load.ts';
import { readRecipeData, recipeReadOptions } from '../../src/recipe/data.ts';
import { readerFlags, readerOptionsOf } from '../../src/cli/reader-options.ts';
import { imageListReader } from './fixtures/image-list-reader.ts';
import { generateSynthetic } from '../../src/data/synth/generate.ts';
import { resolveSynthConfig } from '../../src/data/synth/config.ts';
import { readCsv } from '../../src/data/csv.ts';

readers.register(imageListReader.name, imageListReader); // the one registry line

const BBBC013 = resolve('../shared/data/real/images/bbbc013');
const have = existsSync(BBBC013);
const root = mkdtempSync(join(tmpdir(), 'ben-reader-plugin-'));

function listFolder(): string {
  const dir = join(root, 'list');
  mkdirSync(dir, { recursive: true });
  // Real DNA images of three BBBC013 wells (Channel2 is the DNA stain), by absolute path.
  writeFileSync(join(dir, 'images.txt'), ['1049,A01,' + join(BBBC013, 'Channel2-01-A-01.tif'), '1049,A02,' + join(BBBC013, 'Channel2-02-A-02.tif'), '1050,B01,' + join(BBBC013, 'Channel2-13-B-01.tif')].join('\n') + '\n');
  return dir;
}

describe('a reader added as a plug-in', () => {
  it('is a data.source, with its option checked when the recipe is read', () => {
    expect(readerSourceNames()).toContain('image-list');
    const r = validateRecipe({ name: 'x', data: { source: 'image-list', path: '/x', platePrefix: 'run1-' } });
    expect(recipeReadOptions(r.data)).toEqual({ platePrefix: 'run1-' });
    expect(() => validateRecipe({ name: 'x', data: { source: 'image-list', platePrefix: '' } })).toThrow(/data\.platePrefix: .*(>=1|at least 1|too small).*\(flag --plate-prefix\)/i);
    expect(() => validateRecipe({ name: 'x', data: { source: 'image-list', pattern: 'x' } })).toThrow(/data\.pattern: an option of image-folder, not of source image-list \(its options: platePrefix\)/);
    expect(() => validateRecipe({ name: 'x', data: { source: 'image-list', plateprefix: 'x' } })).toThrow(/data\.plateprefix: unknown field; source image-list takes platePrefix/);
    expect(() => validateRecipe({ name: 'x', data: { source: 'image-lists' } })).toThrow(/unknown data source "image-lists"; choose one of: synthetic, .*image-list/);
  });

  it('has a command-line flag derived from its declaration', async () => {
    expect(readerOptions().get('platePrefix')).toMatchObject({ readers: ['image-list'] });
    const argv = await readerFlags(yargs([])).parseAsync(['--plate-prefix', 'run2-', '--channels', 'DNA']);
    expect(readerOptionsOf(argv as Record<string, unknown>)).toEqual({ platePrefix: 'run2-', channels: ['DNA'] });
    const help = await readerFlags(yargs([])).getHelp();
    expect(help).toMatch(/--plate-prefix\s+image-list: Text put before every plate id/);
  });

  it('reads generated images it lists', async () => {
    const synth = join(root, 'synth');
    await generateSynthetic(resolveSynthConfig('tiny', { layout: 'loaddata-csv' }), synth);
    const t = await readCsv(join(synth, 'load_data.csv'));
    const dir = join(root, 'generated');
    mkdirSync(dir);
    const picked = t.records.slice(0, 4).map(({ values: v }) => `${v.Metadata_Plate},${v.Metadata_Well}_${v.Metadata_Site},${join(synth, v.PathName_nucleus, v.FileName_nucleus)}`);
    writeFileSync(join(dir, 'images.txt'), picked.join('\n') + '\n');
    const ds = await readDataset(dir);
    const ref = await readDataset(join(synth, 'load_data.csv'), { channels: ['nucleus'] });
    expect(ds.summary()).toMatchObject({ images: 4, channels: ['grey'], height: 32, width: 32 });
    for (let i = 0; i < 4; i++) expect(Array.from(ds.images.getSync(i))).toEqual(Array.from(ref.images.getSync(i)));
  });

  it.skipIf(!have)('is detected in its place and reads real BBBC013 images, from a recipe too', async () => {
    const dir = listFolder();
    const ds = await readDataset(dir, { platePrefix: 'p' });
    expect(ds.layout).toBe('image-list');
    expect(ds.summary()).toMatchObject({ images: 3, plates: 2, plateKeys: ['p1049', 'p1050'], channels: ['grey'], height: 640, width: 640, dtype: 'uint8' });
    const r = validateRecipe({ name: 'x', data: { source: 'image-list', path: dir, platePrefix: 'q', trainSplits: ['all'] } });
    const viaRecipe = await (await readRecipeData(r.data, dir)).load();
    expect(viaRecipe.summary().plateKeys).toEqual(['q1049', 'q1050']);
    expect(Array.from(viaRecipe.images.getSync(0).slice(0, 64))).toEqual(Array.from(ds.images.getSync(0).slice(0, 64)));
  });
});
