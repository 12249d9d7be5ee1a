/**
 * The two real image sets end to end, shortened for CI: BBBC013 through the image-folder reader
 * (the recipe's data section, `ben data info`, `ben embed`, `ben run` of the recipe with two
 * training steps) and jump-rab30 through the LoadData reader with its 5 channels. Skipped with a
 * message where ../shared/data is missing.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromArrayBuffer } from 'geotiff';
import { recipeReadOptions, readRecipeData } from '../../src/recipe/data.ts';
import { loadRecipe } from '../../src/recipe/load.ts';
import { BenBatchNorm } from '../../src/models/ben-batchnorm.ts';
import { saveModel } from '../../src/models/io.ts';
import { readWithDuckDB } from '../embedding/helpers.ts';

const REAL = '../shared/data/real/images';
const BBBC013 = join(REAL, 'bbbc013');
const JUMP = join(REAL, 'jump-rab30');
const have = existsSync(BBBC013) && existsSync(JUMP);
if (!have) console.warn(`skipping the real-image tests: ${REAL} is missing (the shared data folder beside the checkout)`);

const root = mkdtempSync(join(tmpdir(), 'ben-real-'));
const BBBC013_FLAGS = [
  '--layout', 'image-folder', '--pattern', 'Channel(?<ch>\\d)-\\d+-(?<row>[A-H])-(?<col>\\d+)\\.tif',
  '--channel-name', '1=GFP', '2=DNA', '--channels', 'DNA', 'GFP', '--plate-map', '1049_Metadata.csv',
  '--label-column', 'SBS_Doses', '--negative-control', 'SBS_Controls=-1', '--positive-control', 'SBS_Controls=1',
];
const JUMP_CHANNELS = ['DNA', 'ER', 'RNA', 'AGP', 'Mito'];

function ben(...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { encoding: 'utf8', env: { ...process.env, BEN_QUIET: '1' } });
}

/**
 * A tiny BEN model with `c` channels (random weights: the plumbing is under test), declaring the
 * fields' own size as its input so embedding resizes nothing.
 */
async function tinyModel(dir: string, c: number, inputSize: number, channels?: string[]): Promise<void> {
  const input = tfl.input({ shape: [null, null, c] });
  let x = tfl.layers.conv2d({ filters: 4, kernelSize: 8, strides: 8, kernelInitializer: tfl.initializers.glorotNormal({ seed: 1 }) }).apply(input) as tfl.SymbolicTensor;
  x = new BenBatchNorm().apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.activation({ activation: 'relu' }).apply(x) as tfl.SymbolicTensor;
  const out = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
  await saveModel(tfl.model({ inputs: input, outputs: out }), dir, { backbone: 'tiny-test', embeddingDim: 4, inputSize, ...(channels ? { channels } : {}) });
}

async function geotiffPixels(path: string): Promise<number[]> {
  const b = readFileSync(path);
  const img = await (await fromArrayBuffer(b.buffer.slice(b.byteOffset, b.byteOffset + b.length))).getImage();
  return Array.from((await img.readRasters({ interleave: true })) as unknown as ArrayLike<number>);
}

const col = (t: Awaited<ReturnType<typeof readWithDuckDB>>, name: string) => {
  const k = t.columns.findIndex((c) => c.name === name);
  expect(k, name).toBeGreaterThanOrEqual(0);
  return t.rows.map((r) => r[k]);
};

describe.skipIf(!have)('bbbc013 through the image-folder reader', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
    await tinyModel(join(root, 'model2'), 2, 640);
  });

  it("the recipe's data section reads the plate: 96 sites, 2 channels, doses and controls from the plate map", async () => {
    const recipe = loadRecipe('recipes/bbbc013-embed.yaml');
    expect(recipeReadOptions(recipe.data)).toMatchObject({ pattern: expect.any(String), plateMap: '1049_Metadata.csv', channels: ['DNA', 'GFP'] });
    const ds = await (await readRecipeData({ ...recipe.data, intensity: undefined }, recipe.data.path!)).load();
    const s = ds.summary();
    expect(s).toMatchObject({ images: 96, plates: 1, wells: 96, labels: 11, channels: ['DNA', 'GFP'], height: 640, width: 640, dtype: 'uint8', splits: { all: 96 }, plateKeys: ['bbbc013'] });
    expect(s.fields).toEqual({ label: 'SBS_Doses', experiment: '', controls: 'negative: SBS_Controls=-1; positive: SBS_Controls=1' });
    const count = (t: string) => ds.rows.filter((r) => r.wellType === t).length;
    expect([count('negative_control'), count('positive_control'), count('treatment')]).toEqual([16, 8, 72]);
    // As 1049_Metadata.csv says: C05 dose 3; A12 dose 10, a positive control; H12 a negative control.
    expect(ds.rows.find((r) => r.well === 'C05')).toMatchObject({ label: '3', wellType: 'treatment', site: 1, plate: 'bbbc013' });
    expect(ds.rows.find((r) => r.well === 'A12')).toMatchObject({ label: '10', wellType: 'positive_control' });
    expect(ds.rows.find((r) => r.well === 'H12')).toMatchObject({ label: '0', wellType: 'negative_control' });
    expect(ds.split(['train', 'test']).size).toBe(96); // no split column: any split is every site
    // Pixels of well D07: channel 0 is Channel2 (DNA), channel 1 Channel1 (GFP), as geotiff reads the files.
    const i = ds.rows.findIndex((r) => r.well === 'D07');
    const px = ds.images.getSync(i);
    const dna = await geotiffPixels(join(BBBC013, 'Channel2-43-D-07.tif'));
    const gfp = await geotiffPixels(join(BBBC013, 'Channel1-43-D-07.tif'));
    let diff = 0;
    for (let p = 0; p < dna.length; p++) diff += Math.abs(px[2 * p] - dna[p]) + Math.abs(px[2 * p + 1] - gfp[p]);
    expect(diff).toBe(0);
    expect(dna.some((v, p) => v !== gfp[p])).toBe(true);
  });

  it('ben data info and ben embed (controls normalization) from the flags alone', async () => {
    const info = ben('data', 'info', BBBC013, ...BBBC013_FLAGS, '--intensity', 'plate', '--json');
    expect(info.stderr).toBe('');
    expect(info.status).toBe(0);
    const s = JSON.parse(info.stdout);
    expect(s).toMatchObject({ layout: 'image-folder', images: 96, plateKeys: ['bbbc013'], channels: ['DNA', 'GFP'], intensity: { mode: 'plate', from: 'controls', low: 0.1, high: 99.9 } });
    expect(s.intensity.plates.bbbc013.images).toBe(16); // fitted on the 16 negative-control wells

    const out = join(root, 'bbbc013', 'emb.parquet');
    const r = ben('embed', '--model', join(root, 'model2'), '--data', BBBC013, ...BBBC013_FLAGS, '--intensity', 'plate', '--out', out, '--normalization', 'controls', '--batch-size', '32', '--json', '--quiet');
    expect(r.stderr).not.toMatch(/Error|at .*\.ts:/);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ images: 96, plates: 1, skipped: 0 });
    const t = await readWithDuckDB(out);
    expect(t.rows.length).toBe(96);
    expect(new Set(col(t, 'Metadata_PlateKey'))).toEqual(new Set(['bbbc013']));
    expect(t.columns.find((c) => c.name === 'Metadata_Site')?.type).toBe('INTEGER');
    expect(col(t, 'Metadata_WellType').filter((w) => w === 'negative_control').length).toBe(16);
    expect(JSON.parse(t.kv.intensity)).toMatchObject({ mode: 'plate', from: 'controls' });
    const feats = t.rows.map((row) => row.slice(t.columns.findIndex((c) => c.name === 'emb_0000')) as number[]);
    expect(feats.flat().every(Number.isFinite)).toBe(true);
    const wells = await readWithDuckDB(join(root, 'bbbc013', 'emb.wells.parquet'));
    expect(wells.rows.length).toBe(96);
    expect(wells.columns.find((c) => c.name === 'Metadata_Count')?.type).toBe('INTEGER');
  });

  it('ben run recipes/bbbc013-embed.yaml, shortened to two training steps, writes the site and well embeddings', () => {
    const dir = join(root, 'run');
    const r = ben('run', 'recipes/bbbc013-embed.yaml', '--set', 'training.steps=2', '--set', `output.dir=${dir}`, '--set', 'augment.cropSize=32', '--set', 'sampler.batchSize=16');
    expect(r.stderr).not.toMatch(/Error|at .*\.ts:/);
    expect(r.status).toBe(0);
    expect(existsSync(join(dir, 'bbbc013-embed', 'embeddings.parquet'))).toBe(true);
    expect(existsSync(join(dir, 'bbbc013-embed', 'embeddings.wells.parquet'))).toBe(true);
  }, 300_000);
});

describe.skipIf(!have)('jump-rab30 through the LoadData reader, 5 channels', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
    await tinyModel(join(root, 'model5'), 5, 384);
    await tinyModel(join(root, 'model5-named'), 5, 384, JUMP_CHANNELS);
    await tinyModel(join(root, 'model5-brightfield'), 5, 384, ['DNA', 'ER', 'RNA', 'AGP', 'Brightfield']);
  });

  it('ben embed takes channels by name: the fields read in another order embed as read in the model order; a missing channel is an error naming both lists', async () => {
    const emb = (out: string, channels: string[], model = 'model5-named') =>
      ben('embed', '--model', join(root, model), '--data', JUMP, '--channels', ...channels, '--out', join(root, 'by-name', out), '--normalization', 'batch', '--aggregate', 'none', '--backend', 'cpu');
    const ordered = emb('ordered.parquet', JUMP_CHANNELS);
    expect(ordered.status, ordered.stderr).toBe(0);
    const reversed = [...JUMP_CHANNELS].reverse();
    const swapped = emb('swapped.parquet', reversed);
    expect(swapped.status, swapped.stderr).toBe(0);
    expect(swapped.stderr).toMatch(/channels taken by name: the data set's \[Mito, AGP, RNA, ER, DNA\] are fed as the model's \[DNA, ER, RNA, AGP, Mito\]/);
    const a = await readWithDuckDB(join(root, 'by-name', 'ordered.parquet'));
    const b = await readWithDuckDB(join(root, 'by-name', 'swapped.parquet'));
    expect(b.rows.length).toBe(2);
    expect(b.rows).toEqual(a.rows);
    const missing = emb('missing.parquet', reversed, 'model5-brightfield');
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/trained on channels \[DNA, ER, RNA, AGP, Brightfield\] but the data set .* has \[Mito, AGP, RNA, ER, DNA\]: Brightfield is missing/);
    expect(missing.stderr).not.toMatch(/at .*\.ts:/);
  });

  it('ben data info: 2 sites from 2 sources, channels by name in the asked order, unique plate keys', () => {
    const r = ben('data', 'info', JUMP, '--channels', ...JUMP_CHANNELS, '--json');
    expect(r.stderr).not.toMatch(/Error|at .*\.ts:/);
    expect(r.status).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ layout: 'loaddata-csv', images: 2, experiments: 2, plates: 2, channels: JUMP_CHANNELS, height: 384, width: 384, dtype: 'uint16', splits: { all: 2 } });
    expect(s.plateKeys).toEqual(['source_13/20220914_Run1/CP-CC9-R1-05', 'source_4/2021_06_07_Batch5/BR00123947']);
    expect(s.fields.experiment).toBe('Metadata_Source/Metadata_Batch');
  });

  it('ben embed with per-plate intensity scaling: one row per site, the plate key and the scaling in the file', async () => {
    const out = join(root, 'jump', 'emb.parquet');
    const r = ben('embed', '--model', join(root, 'model5'), '--data', JUMP, '--channels', ...JUMP_CHANNELS, '--intensity', 'plate', '--intensity-from', 'all', '--out', out, '--normalization', 'plate', '--backend', 'cpu', '--json', '--quiet');
    expect(r.stderr).not.toMatch(/Error|at .*\.ts:/);
    expect(r.status).toBe(0);
    const t = await readWithDuckDB(out);
    expect(t.rows.length).toBe(2);
    expect(col(t, 'Metadata_PlateKey').sort()).toEqual(['source_13/20220914_Run1/CP-CC9-R1-05', 'source_4/2021_06_07_Batch5/BR00123947']);
    expect(col(t, 'Metadata_Site').sort()).toEqual([0, 1]);
    const kv = JSON.parse(t.kv.intensity);
    expect(kv).toMatchObject({ mode: 'plate', from: 'all' });
    // The recorded ranges show the sources' ~10x gap the scaling removed (DNA 99.9th percentile).
    const hi = (k: string) => kv.plates[k].hi[0] as number;
    expect(hi('source_4/2021_06_07_Batch5/BR00123947') / hi('source_13/20220914_Run1/CP-CC9-R1-05')).toBeGreaterThan(10);
  });
});
