/**
 * The synthetic generator's 5-channel Cell-Painting-like plates: the default (3 channels) writes
 * the same bytes as before the option existed (pinned hashes), 5 channels give the Cell Painting
 * stains with their expected structure, and a model pretrained on them embeds the real 5-channel
 * JUMP fields.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { generateSynthetic } from '../../src/data/synth/generate.ts';
import { resolveSynthConfig } from '../../src/data/synth/config.ts';
import { readDataset } from '../../src/data/readers/index.ts';
import type { Dataset } from '../../src/data/image-dataset.ts';
import { embedToParquet } from '../../src/embedding/run.ts';
import { initBackend } from '../../src/engine/backend.ts';
import { readProfileTable } from '../../src/tables/read.ts';
import { loadRecipe } from '../../src/recipe/load.ts';
import { pretrain } from '../../src/recipe/train-stage.ts';
import { isUserError } from '../../src/util/errors.ts';

const tmp = mkdtempSync(join(tmpdir(), 'ben-synth5-'));
const JUMP = '../shared/data/real/images/jump-rab30/load_data.csv';

function hashTree(dir: string): string {
  const h = createHash('sha256');
  const walk = (d: string) => {
    for (const f of readdirSync(d).sort()) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else h.update(relative(dir, p)).update(readFileSync(p));
    }
  };
  walk(dir);
  return h.digest('hex');
}

/** Pearson correlation of channels a and b over all pixels of `ds`. */
function channelCorrelation(ds: Dataset, a: number, b: number): number {
  const C = ds.images.channels;
  let n = 0, sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
  for (let i = 0; i < ds.size; i++) {
    const px = ds.images.getSync(i);
    for (let p = 0; p < px.length; p += C) {
      const x = px[p + a], y = px[p + b];
      n++; sa += x; sb += y; saa += x * x; sbb += y * y; sab += x * y;
    }
  }
  return (sab / n - (sa / n) * (sb / n)) / Math.sqrt((saa / n - (sa / n) ** 2) * (sbb / n - (sb / n) ** 2));
}

let five: Dataset;
beforeAll(async () => {
  await generateSynthetic(resolveSynthConfig('tiny', { channels: 5, layout: 'loaddata-csv', bitDepth: 16 }), join(tmp, 'five'));
  five = await (await readDataset(join(tmp, 'five'))).load();
}, 60_000);

describe('synthetic generator channels', () => {
  it('the default (3 channels) writes the bytes it wrote before the option existed', async () => {
    // Hashes of the tiny preset measured before 5 channels were added (same node_modules).
    const want: Record<string, string> = {
      'rxrx1-wilds': '0d0b194e777bdc90c1fd1e60123ccf0cd7bfe80743b42001938fd0bab6b20479',
      'loaddata-csv': 'b08abe38e9bf66f56fb6e3081ecc0fa186195d27295fcd88fe5324c0eec6d6aa',
    };
    await generateSynthetic(resolveSynthConfig('tiny'), join(tmp, 'wilds'), { preset: 'tiny' });
    await generateSynthetic(resolveSynthConfig('tiny', { layout: 'loaddata-csv', bitDepth: 16, channels: 3 }), join(tmp, 'ld16'), { preset: 'tiny' });
    expect(hashTree(join(tmp, 'wilds'))).toBe(want['rxrx1-wilds']);
    expect(hashTree(join(tmp, 'ld16'))).toBe(want['loaddata-csv']);
    expect(resolveSynthConfig('tiny', { channels: 3 })).toEqual(resolveSynthConfig('tiny'));
  }, 60_000);

  it('5 channels: the Cell Painting stains, read back by the LoadData reader', () => {
    expect(five.channels).toEqual(['DNA', 'ER', 'RNA', 'AGP', 'Mito']);
    expect([five.images.channels, five.dtype, five.size]).toEqual([5, 'uint16', 144]);
    const [DNA, ER, RNA, AGP] = [0, 1, 2, 3];
    // ER sits around the nucleus, the AGP ring at the cell edge: ER follows DNA more than AGP does;
    // RNA (nucleoli, faint cytoplasm) follows DNA; every stain is its own image.
    const r = (a: number, b: number) => channelCorrelation(five, a, b);
    expect(r(DNA, ER)).toBeGreaterThan(r(DNA, AGP) + 0.05);
    expect(r(DNA, RNA)).toBeGreaterThan(0.2);
    for (let a = 0; a < 5; a++) for (let b = a + 1; b < 5; b++) expect(r(a, b)).toBeLessThan(0.97);
  });

  it('refuses 5 channels in the RGB layout, naming the fix', () => {
    try {
      resolveSynthConfig('tiny', { channels: 5 });
      expect.unreachable();
    } catch (e) {
      expect(isUserError(e)).toBe(true);
      expect((e as Error).message).toMatch(/rxrx1-wilds layout stores RGB PNGs.*--layout loaddata-csv/);
    }
  });

  it.skipIf(!existsSync(JUMP))('a model pretrained on 5-channel synthetic plates embeds the real JUMP fields', async () => {
    await initBackend('wasm');
    const recipe = loadRecipe('recipes/simclr-ben.yaml', [
      `data.path=${join(tmp, 'five')}`, 'data.params={channels: 5, layout: loaddata-csv, bitDepth: 16}', 'data.preset=tiny',
      'training.steps=1', 'training.warmupSteps=0', 'sampler.batchSize=8', 'augment.cropSize=16', 'backbone.name=small-convnet',
      'objective.options.projectorHiddenDim=16', 'objective.options.projectorOutDim=8',
    ]);
    const fit = await pretrain(recipe, { runDir: join(tmp, 'run'), data: await readDataset(join(tmp, 'five')), progress: false });
    for (const resizeMode of ['resize', 'tiles'] as const) {
      const s = await embedToParquet({ modelDir: fit.modelDir, dataPath: JUMP, out: join(tmp, `jump-${resizeMode}.parquet`), normalization: 'running', resizeMode, aggregate: 'none' });
      expect(s.stats.images).toBe(2);
      const { table } = await readProfileTable(join(tmp, `jump-${resizeMode}.parquet`));
      expect(table.keyValue).toMatchObject({ resize_mode: resizeMode, input_size: '16' });
      expect(table.features.every(Number.isFinite)).toBe(true);
    }
  }, 120_000);
});
