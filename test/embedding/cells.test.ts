/**
 * Cell profiles (embedding/cells.ts): site and well profiles are the mean of the L2-normalised
 * cell embeddings (checked by hand), and a recipe with `data.crops` trains and embeds on cells,
 * writing cells, sites and wells; `ben embed --cells` does the same from the CLI.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cellPathFor, poolCells } from '../../src/embedding/cells.ts';
import { embeddingColumnNames } from '../../src/tables/parquet.ts';
import { initBackend } from '../../src/engine/backend.ts';
import { readModelMetadata } from '../../src/models/io.ts';
import type { ProfileTable } from '../../src/tables/profile-table.ts';
import { ensureRecipeData } from '../../src/recipe/data.ts';
import { loadRecipe } from '../../src/recipe/load.ts';
import { runRecipe } from '../../src/recipe/run.ts';
import { readWithDuckDB } from './helpers.ts';

const root = mkdtempSync(join(tmpdir(), 'ben-cells-'));

describe('pooling cells', () => {
  it('site and well profiles are the mean of the L2-normalised cells, with the cell count', () => {
    // Two wells; well A01 has sites 1 (2 cells) and 2 (1 cell); well A02 site 1 (1 cell).
    const f = [3, 4, 0, 2, 1, 2, 0, 5];
    const t: ProfileTable = {
      n: 4, d: 2, featureNames: embeddingColumnNames(2), features: Float32Array.from(f), keyValue: { model: 'm' },
      meta: {
        Metadata_Experiment: ['E', 'E', 'E', 'E'], Metadata_Plate: ['1', '1', '1', '1'], Metadata_Well: ['A01', 'A01', 'A01', 'A02'],
        Metadata_Site: ['1', '1', '2', '1'], Metadata_Label: ['a', 'a', 'a', 'b'], Metadata_Cell: ['0', '1', '0', '0'],
        Metadata_CellX: ['1', '2', '3', '4'], Metadata_CellY: ['1', '2', '3', '4'],
      },
    };
    const { sites, wells } = poolCells(t);
    const u = [[0.6, 0.8], [0, 1], [1 / Math.sqrt(5), 2 / Math.sqrt(5)], [0, 1]];
    expect(sites.n).toBe(3);
    expect(Array.from(sites.features)).toEqual([(0.6 + 0) / 2, (0.8 + 1) / 2, u[2][0], u[2][1], 0, 1].map(Math.fround));
    expect(sites.meta.Metadata_Count).toEqual(['2', '1', '1']);
    expect(sites.meta.Metadata_Site).toEqual(['1', '2', '1']);
    expect(sites.meta.Metadata_Cell).toBeUndefined();
    expect(wells.n).toBe(2);
    for (const [k, v] of [(0.6 + 0 + u[2][0]) / 3, (0.8 + 1 + u[2][1]) / 3, 0, 1].entries()) expect(wells.features[k]).toBeCloseTo(v, 6);
    expect(wells.meta.Metadata_Count).toEqual(['3', '1']);
    expect(wells.keyValue).toMatchObject({ pooling: 'mean-of-l2-normalized-cells', aggregated_by: 'Metadata_Experiment,Metadata_Plate,Metadata_Well' });
  });
});

describe('training and embedding on cells', () => {
  const sets = [
    'data.preset=tiny', 'data.params={height: 64, width: 64, cellRadius: 8}', 'data.crops={mode: cells, size: 24, maxPerSite: 4}',
    'stages=[data, train, embed]', 'training.steps=2', 'training.warmupSteps=0', 'training.knnMonitorEvery=0',
    'sampler.batchSize=8', 'augment.cropSize=16', 'backbone.name=small-convnet',
    'objective.options.projectorHiddenDim=16', 'objective.options.projectorOutDim=8', 'variants={}',
  ];
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('a recipe with data.crops writes cells, sites (mean of normalised cells, with counts) and wells', async () => {
    const recipe = loadRecipe('recipes/quickstart.yaml', sets);
    const runDir = join(root, 'run');
    const r = await runRecipe(recipe, { runDir, dataRoot: join(root, 'data'), progress: false, log: () => undefined });
    const dir = r.variants[0].dir;
    const cells = await readWithDuckDB(join(dir, 'embeddings.cells.parquet'));
    const sites = await readWithDuckDB(join(dir, 'embeddings.parquet'));
    const wells = await readWithDuckDB(join(dir, 'embeddings.wells.parquet'));
    const col = (t: typeof cells, name: string) => t.columns.findIndex((c) => c.name === name);
    expect(col(cells, 'Metadata_Cell')).toBeGreaterThan(0);
    expect(col(sites, 'Metadata_Cell')).toBe(-1);
    const count = col(sites, 'Metadata_Count');
    expect(count).toBeGreaterThan(0);
    const counts = sites.rows.map((row) => Number(row[count]));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(cells.rows.length);
    expect(Math.max(...counts)).toBeLessThanOrEqual(4);
    expect(sites.kv).toMatchObject({ pooling: 'mean-of-l2-normalized-cells', input_size: '16' });
    const wc = col(wells, 'Metadata_Count');
    expect(wells.rows.map((row) => Number(row[wc])).reduce((a, b) => a + b, 0)).toBe(cells.rows.length);
    // The model was trained on 16-px views of 24-px cells: its metadata says so.
    expect(await readModelMetadata(join(dir, 'model'))).toMatchObject({ inputSize: 16, trainImageSize: [24, 24], crops: { mode: 'cells', size: 24, maxPerSite: 4 } });

    // The CLI: `ben embed --cells` with that model.
    const dataDir = await ensureRecipeData(recipe.data, { dataRoot: join(root, 'data') });
    const out = join(root, 'cli', 'emb.parquet');
    const p = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'embed', '--model', join(dir, 'model'), '--data', dataDir, '--out', out, '--cells', '--max-cells', '4', '--normalization', 'plate', '--split', 'test', '--json', '--quiet', '--backend', 'wasm'], { encoding: 'utf8', env: { ...process.env, BEN_QUIET: '1' } });
    expect(p.stderr).toBe('');
    expect(p.status).toBe(0);
    expect(JSON.parse(p.stdout).files).toEqual([out, join(root, 'cli', 'emb.wells.parquet'), cellPathFor(out)]);
    const cliSites = await readWithDuckDB(out);
    expect(col(cliSites, 'Metadata_Count')).toBeGreaterThan(0);
    // The test split with the model's recorded crop size: the cells the recipe embedded.
    expect(cliSites.rows.length).toBe(sites.rows.length);
    expect((await readWithDuckDB(cellPathFor(out))).rows.length).toBe(cells.rows.length);
  }, 180_000);
});
