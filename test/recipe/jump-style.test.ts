/**
 * `ben run recipes/jump-style-cells.yaml` shortened for CI, on a generated JUMP-style screen (two
 * plates, 5 stains, 16-bit, illumination functions and a nuclei table from `ben data synth`):
 * cell, site and well Parquet written; the correction recorded in the Parquet key-value metadata,
 * the resolved recipe and run.json; the report shows the functions and the given centres.
 * Split names: `all` with a split column, a misspelt split refused before any data work.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readProfileTable } from '../../src/tables/read.ts';
import { readCsv } from '../../src/data/csv.ts';

const root = mkdtempSync(join(tmpdir(), 'ben-jump-style-'));
const data = join(root, 'data');
const ben = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { encoding: 'utf8', env: { ...process.env, BEN_QUIET: '1' } });

beforeAll(() => {
  const r = ben('data', 'synth', '--preset', 'tiny', '--layout', 'loaddata-csv', '--channels', '5', '--bit-depth', '16', '--height', '96', '--width', '96',
    '--cells-per-image', '12', '--cell-radius', '6', '--cell-types', '1', '--train-experiments-per-cell-type', '1', '--test-experiments-per-cell-type', '0',
    '--illumination-functions', '--nuclei-table', '--out', data, '--quiet');
  expect(r.status, r.stderr).toBe(0);
});

const sets = (dir: string, extra: string[] = []) =>
  ['training.steps=2', 'training.warmupSteps=1', 'sampler.batchSize=16', 'data.crops.maxPerSite=4', `data.path=${join(data, 'load_data.csv')}`, `data.crops.locations=${join(data, 'nuclei.csv')}`, `output.dir=${dir}`, ...extra].flatMap((s) => ['--set', s]);

describe('ben run recipes/jump-style-cells.yaml (shortened)', () => {
  it('raw files -> corrected, cut at the given nuclei -> cell, site and well Parquet, with the correction recorded', async () => {
    const dir = join(root, 'run');
    const r = ben('run', 'recipes/jump-style-cells.yaml', ...sets(dir));
    expect(r.status, r.stderr.slice(-3000)).toBe(0);
    const v = join(dir, 'jump-style-cells');
    const cells = (await readProfileTable(join(v, 'embeddings.cells.parquet'))).table;
    const sites = (await readProfileTable(join(v, 'embeddings.parquet'))).table;
    const wells = (await readProfileTable(join(v, 'embeddings.wells.parquet'))).table;
    const nuclei = await readCsv(join(data, 'nuclei.csv'));
    // Every cell at a centre of the table, given as written.
    const given = new Set(nuclei.records.map((x) => `${x.values.Metadata_Plate}/${x.values.Metadata_Well}/${x.values.Metadata_Site}/${Number(x.values.Nuclei_Location_Center_X)}/${Number(x.values.Nuclei_Location_Center_Y)}`));
    for (let i = 0; i < cells.n; i++) expect(given.has(`${cells.meta.Metadata_Plate[i]}/${cells.meta.Metadata_Well[i]}/${cells.meta.Metadata_Site[i]}/${Number(cells.meta.Metadata_CellX[i])}/${Number(cells.meta.Metadata_CellY[i])}`)).toBe(true);
    expect(cells.n).toBeGreaterThan(sites.n);
    expect(sites.n).toBeGreaterThan(wells.n);
    const il = JSON.parse(cells.keyValue!.illumination);
    expect(il).toMatchObject({ mode: 'loaddata', applied: true, files: 10 });
    expect(JSON.parse(sites.keyValue!.illumination)).toEqual(il);
    expect(JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')).illumination).toEqual(il);
    const resolved = readFileSync(join(dir, 'resolved-recipe.yaml'), 'utf8');
    expect(resolved).toMatch(/# data.illumination: loaddata, 10 function files over 2 plate\(s\)/);
    expect(resolved).toMatch(/illumination: loaddata/);
    const html = readFileSync(join(dir, 'report', 'index.html'), 'utf8');
    expect(html).toContain('Illumination functions');
    expect(html).toContain('Given nuclei centres');
    for (const png of ['illumination.png', 'nuclei.png']) expect(existsSync(join(dir, png))).toBe(true);
  }, 300_000);

  it('a split that is not in the data is refused before any data work; all takes every row', () => {
    const dir = join(root, 'bad-split');
    const r = ben('run', 'recipes/jump-style-cells.yaml', ...sets(dir, ['data.trainSplits=[trian]']));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/data\.trainSplits: split "trian" has no rows in .*load_data\.csv\. Known splits: id_test, train; "all" selects every row/);
    expect(existsSync(dir)).toBe(false); // nothing written, nothing detected or trained
  });
});
