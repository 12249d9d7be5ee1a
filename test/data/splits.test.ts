/**
 * Split names: `all` is every row whether or not the data has a split column, and a split the
 * data does not hold is refused from the metadata alone (before any image is read), naming the
 * splits there are; on a generated screen and on the real jump-rab30 fields with a split column.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readDataset } from '../../src/data/readers/index.ts';
import { generateSynthetic } from '../../src/data/synth/generate.ts';
import { resolveSynthConfig } from '../../src/data/synth/config.ts';
import { checkRecipeSplits } from '../../src/recipe/data.ts';
import { validateRecipe } from '../../src/recipe/load.ts';

const root = mkdtempSync(join(tmpdir(), 'ben-splits-'));
const recipe = (path: string, data: Record<string, unknown>, evaluation: Record<string, unknown> = {}) =>
  validateRecipe({ name: 'x', data: { source: 'loaddata', path, illumination: 'none', ...data }, evaluation: { metrics: ['knn'], ...evaluation } });

async function checks(csv: string, known: string): Promise<void> {
  const ds = await readDataset(csv, { illumination: 'none', load: false });
  expect(ds.split('all').size).toBe(ds.size);
  expect(ds.split(['all', 'train']).size).toBe(ds.size);
  await expect(checkRecipeSplits([recipe(csv, { trainSplits: ['all'], evalSplits: ['all'] })], csv)).resolves.toBeUndefined();
  await expect(checkRecipeSplits([recipe(csv, { trainSplits: ['trian'] })], csv)).rejects.toThrow(new RegExp(`data\\.trainSplits: split "trian" has no rows in .*\\. Known splits: ${known}; "all" selects every row`));
  // The probe's training splits count only when the linear probe is asked for.
  await expect(checkRecipeSplits([recipe(csv, { trainSplits: ['all'], evalSplits: ['all'] }, { probeTrainSplits: ['nope'] })], csv)).resolves.toBeUndefined();
  await expect(checkRecipeSplits([recipe(csv, { trainSplits: ['all'], evalSplits: ['all'] }, { metrics: ['linear-probe'], probeTrainSplits: ['nope'] })], csv)).rejects.toThrow(/evaluation\.probeTrainSplits: split "nope"/);
}

describe('split names', () => {
  it('on a generated LoadData screen with a Metadata_Split column', async () => {
    await generateSynthetic(resolveSynthConfig('tiny', { layout: 'loaddata-csv' }), join(root, 'synth'));
    await checks(join(root, 'synth', 'load_data.csv'), 'id_test, test, train');
  });

  const RAB30 = resolve('../shared/data/real/images/jump-rab30');
  it.skipIf(!existsSync(RAB30))('on the real jump-rab30 fields given a split column', async () => {
    const lines = readFileSync(join(RAB30, 'load_data.csv'), 'utf8').trim().split(/\r?\n/);
    const csv = join(root, 'rab30.csv');
    writeFileSync(csv, [`${lines[0]},Metadata_Split`, `${lines[1].replace(/,images/g, `,${join(RAB30, 'images')}`)},train`, `${lines[2].replace(/,images/g, `,${join(RAB30, 'images')}`)},val`].join('\n') + '\n');
    await checks(csv, 'train, val');
    const ds = await readDataset(csv, { channels: ['DNA'] });
    expect(ds.split('val').rows.map((r) => r.plate)).toEqual(['CP-CC9-R1-05']);
  });
});
