import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
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
import { readWithDuckDB } from './helpers.ts';

const root = mkdtempSync(join(tmpdir(), 'ben-embed-cli-'));
const dataDir = join(root, 'data');
const modelDir = join(root, 'model');

beforeAll(async () => {
  await tf.setBackend('cpu');
  await generateSynthetic(resolveSynthConfig('tiny'), dataDir);
  const input = tfl.input({ shape: [32, 32, 3] });
  let x = tfl.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, kernelInitializer: tfl.initializers.glorotNormal({ seed: 1 }) }).apply(input) as tfl.SymbolicTensor;
  x = new BenBatchNorm().apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.activation({ activation: 'relu' }).apply(x) as tfl.SymbolicTensor;
  const out = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
  await saveModel(tfl.model({ inputs: input, outputs: out }), modelDir, { backbone: 'tiny-test', embeddingDim: 4 });
}, 120_000);

function ben(...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args, '--backend', 'cpu'], { encoding: 'utf8', env: { ...process.env, BEN_QUIET: '1' } });
}

describe('ben embed', () => {
  it('embeds a synthetic data set plate by plate into Parquet that DuckDB reads', async () => {
    const out = join(root, 'out', 'emb.parquet');
    const r = ben('embed', '--model', modelDir, '--data', dataDir, '--out', out, '--normalization', 'controls', '--batch-size', '7', '--json', '--quiet');
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.status).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.plates).toBe(8);
    const img = await readWithDuckDB(out);
    expect(img.rows.length).toBe(summary.images);
    expect(img.columns.map((c) => c.name).slice(0, 9)).toEqual([
      'Metadata_Experiment', 'Metadata_Plate', 'Metadata_PlateKey', 'Metadata_Well', 'Metadata_Site',
      'Metadata_CellType', 'Metadata_Label', 'Metadata_WellType', 'Metadata_Split',
    ]);
    expect(img.columns.find((c) => c.name === 'Metadata_Site')?.type).toBe('INTEGER');
    expect(img.columns.slice(9).map((c) => `${c.name}:${c.type}`)).toEqual(['emb_0000:FLOAT', 'emb_0001:FLOAT', 'emb_0002:FLOAT', 'emb_0003:FLOAT']);
    expect(img.kv).toMatchObject({ normalization: 'controls', model: modelDir, preprocess: 'standardize' });
    expect(JSON.parse(img.kv.model_metadata)).toMatchObject({ backbone: 'tiny-test' });
    expect(img.rows.every((row) => (row.slice(9) as number[]).every(Number.isFinite))).toBe(true);
    const wells = await readWithDuckDB(join(root, 'out', 'emb.wells.parquet'));
    expect(wells.rows.length).toBe(summary.images / 2); // 2 sites per well
    expect(wells.columns.some((c) => c.name === 'Metadata_Site')).toBe(false);
  }, 120_000);

  it('refuses a model whose output is not its declared embedding (e.g. a classifier)', async () => {
    const input = tfl.input({ shape: [32, 32, 3] });
    const out = tfl.layers.globalAveragePooling2d({}).apply(input) as tfl.SymbolicTensor;
    const dir = join(root, 'classifier');
    await saveModel(tfl.model({ inputs: input, outputs: out }), dir, { embeddingDim: 7 });
    const r = ben('embed', '--model', dir, '--data', dataDir, '--out', join(root, 'cls', 'emb.parquet'), '--normalization', 'running');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/outputs 3 values per image but its metadata declares embeddingDim 7/);
    expect(existsSync(join(root, 'cls', 'emb.parquet'))).toBe(false);
  }, 60_000);

  it('fails with a clear message and writes nothing when the model is missing', () => {
    const out = join(root, 'none', 'emb.parquet');
    const r = ben('embed', '--model', join(root, 'nope'), '--data', dataDir, '--out', out);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/No saved model at .*nope: model.json is missing/);
    expect(existsSync(out)).toBe(false);
  }, 60_000);
});
