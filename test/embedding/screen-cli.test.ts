/**
 * `ben embed` on a generated screen as CellProfiler leaves it: cells cut at the nuclei table's
 * centres (`--locations`), images divided by functions computed per plate (`--illumination
 * compute`, written beside the output) or named by the CSV; the Parquet files record it.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSynthetic } from '../../src/data/synth/generate.ts';
import { resolveSynthConfig } from '../../src/data/synth/config.ts';
import { BenBatchNorm } from '../../src/models/ben-batchnorm.ts';
import { saveModel } from '../../src/models/io.ts';
import { readProfileTable } from '../../src/tables/read.ts';
import { readCsv } from '../../src/data/csv.ts';

const root = mkdtempSync(join(tmpdir(), 'ben-screen-cli-'));
const data = join(root, 'data');
const modelDir = join(root, 'model');
const ben = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args, '--backend', 'cpu'], { encoding: 'utf8', env: { ...process.env, BEN_QUIET: '1' } });

beforeAll(async () => {
  await generateSynthetic(resolveSynthConfig('tiny', { layout: 'loaddata-csv', height: 64, width: 64, cellsPerImage: 8, cellRadius: 5, cellTypes: 1, testExperimentsPerCellType: 0, illuminationFunctions: true, nucleiTable: true }), data);
  const input = tfl.input({ shape: [null, null, 3] });
  let x = tfl.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, kernelInitializer: tfl.initializers.glorotNormal({ seed: 1 }) }).apply(input) as tfl.SymbolicTensor;
  x = new BenBatchNorm().apply(x) as tfl.SymbolicTensor;
  const out = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
  await saveModel(tfl.model({ inputs: input, outputs: out }), modelDir, { backbone: 'tiny-test', embeddingDim: 4, inputSize: 16 });
}, 120_000);

describe('ben embed on a CellProfiler-style screen', () => {
  it('--locations cuts cells at the table centres; functions computed per plate beside the output; both recorded', async () => {
    const out = join(root, 'out', 'sites.parquet');
    const r = ben('embed', '--model', modelDir, '--data', join(data, 'load_data.csv'), '--locations', join(data, 'nuclei.csv'), '--cell-size', '16', '--illumination', 'compute', '--illumination-filter-size', '20', '--out', out, '--json');
    expect(r.status, r.stderr.slice(-2000)).toBe(0);
    expect(JSON.parse(r.stdout).files).toEqual([out, join(root, 'out', 'sites.wells.parquet'), join(root, 'out', 'sites.cells.parquet')]);
    const cells = (await readProfileTable(join(root, 'out', 'sites.cells.parquet'))).table;
    const table = await readCsv(join(data, 'nuclei.csv'));
    expect(cells.n).toBe(table.records.length); // every centre of the table is a cell (no --max-cells)
    const key = (p: string, w: string, s: string, x: string, y: string) => `${p}/${w}/${s}/${Number(x)}/${Number(y)}`;
    const given = new Set(table.records.map(({ values: v }) => key(v.Metadata_Plate, v.Metadata_Well, v.Metadata_Site, v.Nuclei_Location_Center_X, v.Nuclei_Location_Center_Y)));
    for (let i = 0; i < cells.n; i++) expect(given.has(key(cells.meta.Metadata_Plate[i], cells.meta.Metadata_Well[i], cells.meta.Metadata_Site[i], cells.meta.Metadata_CellX[i], cells.meta.Metadata_CellY[i]))).toBe(true);
    const il = JSON.parse(cells.keyValue!.illumination);
    expect(il).toMatchObject({ mode: 'compute', applied: true, source: join(root, 'out', 'sites.illumination'), filterSize: 20, radius: 9, files: 6 });
    expect(existsSync(join(root, 'out', 'sites.illumination', 'illumination.csv'))).toBe(true);
    // The CSV's own functions (the default when it names them) are recorded as loaddata.
    const out2 = join(root, 'out2', 'sites.parquet');
    const r2 = ben('embed', '--model', modelDir, '--data', join(data, 'load_data.csv'), '--out', out2, '--json', '--aggregate', 'none');
    expect(r2.status, r2.stderr.slice(-2000)).toBe(0);
    expect(JSON.parse((await readProfileTable(out2)).table.keyValue!.illumination)).toMatchObject({ mode: 'loaddata', applied: true, files: 6 });
  });
});
