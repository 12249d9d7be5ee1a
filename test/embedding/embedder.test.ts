import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Dataset } from '../../src/data/image-dataset.ts';
import { MemoryImageStore } from '../../src/data/image-store.ts';
import type { SiteRecord, WellType } from '../../src/data/types.ts';
import { embedDataset, evenBatches, standardizeImages, EMBEDDING_META_COLUMNS } from '../../src/embedding/embedder.ts';
import { exportProfiles } from '../../src/embedding/export.ts';
import { BenBatchNorm, getNormalization, setNormalization } from '../../src/models/ben-batchnorm.ts';
import { Rng } from '../../src/util/rng.ts';
import { readWithDuckDB } from './helpers.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const H = 6, W = 6, C = 2;

/** Two plates with different brightness (a batch effect); wells 0-1 of each plate are negative controls. */
function makeDataset(seed: number, platesSizes = [7, 5]): Dataset {
  const rng = new Rng(seed);
  const rows: SiteRecord[] = [];
  const pixels: number[] = [];
  platesSizes.forEach((size, p) => {
    for (let i = 0; i < size; i++) {
      const wellType: WellType = i < 2 ? 'negative_control' : 'treatment';
      rows.push({
        siteId: `E${p}_${p}_W${i}_1`, experiment: `E${p}`, plate: String(p + 1), well: `W${String(i).padStart(2, '0')}`, site: 1,
        cellType: 'HUVEC', label: wellType === 'negative_control' ? 'EMPTY' : `s${i % 3}`, wellType, split: p ? 'test' : 'train',
        paths: [], extra: {}, source: `mem row ${rows.length}`,
      });
      for (let k = 0; k < H * W * C; k++) pixels.push(Math.min(255, Math.max(0, Math.round(rng.normal(80 + 60 * p + 10 * (i % 3), 30)))));
    }
  });
  const images = new MemoryImageStore({ height: H, width: W, channels: C, dtype: 'uint8' }, Uint8Array.from(pixels));
  return new Dataset({ rows, channels: ['a', 'b'], images, root: 'memory', layout: 'test' });
}

/** conv -> BEN BN -> relu -> conv -> BEN BN -> relu -> global average pool: [B, 6, 6, 2] -> [B, 4]. */
function makeModel(seed: number, withBen = true): tfl.LayersModel {
  const input = tfl.input({ shape: [H, W, C] });
  const init = (s: number) => tfl.initializers.glorotNormal({ seed: seed + s });
  let x = tfl.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', kernelInitializer: init(1) }).apply(input) as tfl.SymbolicTensor;
  x = (withBen ? new BenBatchNorm() : tfl.layers.batchNormalization()).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.activation({ activation: 'relu' }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', kernelInitializer: init(2) }).apply(x) as tfl.SymbolicTensor;
  x = (withBen ? new BenBatchNorm() : tfl.layers.batchNormalization()).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.activation({ activation: 'relu' }).apply(x) as tfl.SymbolicTensor;
  const out = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out });
}

/** Reference: the model applied to the images `idx` as ONE batch in `mode`. */
function oneBatch(model: tfl.LayersModel, data: Dataset, idx: number[], mode: 'batch' | 'running'): Float32Array {
  setNormalization(model, mode);
  const x = standardizeImages(idx.map((i) => data.images.getSync(i)), data.images);
  const y = model.predict(x, { batchSize: idx.length }) as tf.Tensor;
  const v = y.dataSync() as Float32Array;
  x.dispose();
  y.dispose();
  setNormalization(model, 'running');
  return v;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('evenBatches', () => {
  it('splits into ceil(n/max) nearly equal contiguous batches', () => {
    expect(evenBatches(7, 3)).toEqual([[0, 2], [2, 4], [4, 7]]);
    expect(evenBatches(6, 6)).toEqual([[0, 6]]);
    expect(evenBatches(0, 4)).toEqual([]);
  });
});

describe('standardizeImages', () => {
  it('gives each image channel zero mean and unit variance, as the trainer (float64 reference)', () => {
    const img = Uint8Array.from({ length: 4 * 2 }, (_, i) => (i * 37) % 251);
    const v = standardizeImages([img], { height: 2, width: 2, channels: 2, dtype: 'uint8' }).dataSync();
    for (let c = 0; c < 2; c++) {
      const xs = [0, 1, 2, 3].map((p) => img[p * 2 + c]);
      const m = xs.reduce((a, b) => a + b) / 4;
      const s = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / 4 + 1e-6); // the trainer's epsilon
      for (let p = 0; p < 4; p++) expect(v[p * 2 + c]).toBeCloseTo((xs[p] - m) / s, 5);
    }
  });
});

describe('embedDataset', () => {
  const data = makeDataset(1);
  const model = makeModel(2);
  const plate0 = [0, 1, 2, 3, 4, 5, 6], plate1 = [7, 8, 9, 10, 11];

  it('plate mode equals one batch holding the whole plate, whatever the batch size', async () => {
    const ref = new Float32Array([...oneBatch(model, data, plate0, 'batch'), ...oneBatch(model, data, plate1, 'batch')]);
    // singlePassMaxPixels 0: the exact multi-pass statistics fit; default: one batch per plate.
    for (const [batchSize, singlePassMaxPixels] of [[2, 0], [3, 0], [64, 0], [2, undefined]]) {
      const { table, stats } = await embedDataset(model, data, { normalization: 'plate', batchSize, singlePassMaxPixels });
      expect(table.n).toBe(12);
      expect(table.d).toBe(4);
      expect(maxAbsDiff(table.features, ref)).toBeLessThan(1e-4);
      expect(stats.plates).toBe(2);
      expect(stats.singlePassPlates).toBe(singlePassMaxPixels === 0 ? 0 : 2);
      expect(stats.statsSeconds > 0).toBe(singlePassMaxPixels === 0);
    }
    expect(getNormalization(model)).toBe('running'); // restored
    // The reference is not trivially the running-statistics model.
    expect(maxAbsDiff(ref, oneBatch(model, data, [...plate0, ...plate1], 'running'))).toBeGreaterThan(1e-2);
  });

  it('controls mode normalises with the negative controls: controls embed as one batch of the controls', async () => {
    const { table } = await embedDataset(model, data, { normalization: 'controls', batchSize: 3 });
    const ctl0 = oneBatch(model, data, [0, 1], 'batch'), ctl1 = oneBatch(model, data, [7, 8], 'batch');
    expect(maxAbsDiff(table.features.subarray(0, 8), ctl0)).toBeLessThan(1e-4);
    expect(maxAbsDiff(table.features.subarray(7 * 4, 9 * 4), ctl1)).toBeLessThan(1e-4);
    // And the treatment rows differ from plate-mode ones (different statistics).
    const plate = (await embedDataset(model, data, { normalization: 'plate', singlePassMaxPixels: 0 })).table;
    expect(maxAbsDiff(table.features.subarray(8, 28), plate.features.subarray(8, 28))).toBeGreaterThan(1e-3);
  });

  it('batch mode normalises each even batch of one plate on its own', async () => {
    const { table } = await embedDataset(model, data, { normalization: 'batch', batchSize: 4 });
    // Plate 0 (7 images) -> batches [0,3) [3,7); plate 1 (5) -> [7,9) [9,12).
    const ref = [[0, 1, 2], [3, 4, 5, 6], [7, 8], [9, 10, 11]].flatMap((b) => Array.from(oneBatch(model, data, b, 'batch')));
    expect(maxAbsDiff(table.features, ref)).toBeLessThan(1e-4);
  });

  it('running mode is the plain model', async () => {
    const { table } = await embedDataset(model, data, { normalization: 'running', batchSize: 5 });
    expect(maxAbsDiff(table.features, oneBatch(model, data, [...plate0, ...plate1], 'running'))).toBeLessThan(1e-5);
  });

  it('fills the Metadata_* columns from the data set rows, plate by plate', async () => {
    const plates: string[] = [];
    const { table } = await embedDataset(model, data, {
      normalization: 'plate',
      keyValue: { model: 'tiny' },
      onPlate: (t, key) => void plates.push(`${key.experiment}/${key.plate}:${t.n}`),
    });
    expect(plates).toEqual(['E0/1:7', 'E1/2:5']);
    expect(Object.keys(table.meta)).toEqual([...EMBEDDING_META_COLUMNS]);
    expect(table.meta.Metadata_Well.slice(0, 3)).toEqual(['W00', 'W01', 'W02']);
    expect(table.meta.Metadata_WellType[7]).toBe('negative_control');
    expect(table.meta.Metadata_Split[11]).toBe('test');
    expect(table.meta.Metadata_Site[0]).toBe('1');
    expect(table.featureNames).toEqual(['emb_0000', 'emb_0001', 'emb_0002', 'emb_0003']);
    expect(table.keyValue).toMatchObject({ model: 'tiny', normalization: 'plate', preprocess: 'standardize', embedding_dim: '4' });
  });

  it('refuses what cannot work, naming the fix', async () => {
    const noControls = data.filter((r) => !(r.plate === '2' && r.wellType === 'negative_control'));
    await expect(embedDataset(model, noControls, { normalization: 'controls' })).rejects.toThrow(/Plate E1\/2 has no negative-control images/);
    await expect(embedDataset(makeModel(3, false), data, { normalization: 'plate' })).rejects.toThrow(/no BEN BatchNorm layers/);
    const other = tfl.sequential({ layers: [tfl.layers.globalAveragePooling2d({ inputShape: [5, 5, C] })] });
    await expect(embedDataset(other, data, { normalization: 'running' })).rejects.toThrow(/expects images of shape \[5, 5, 2\]/);
  });

  it('end to end: embeddings and well aggregates land in Parquet that DuckDB reads', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ben-embed-'));
    const { table } = await embedDataset(model, data, { normalization: 'plate', keyValue: { model: 'tiny' } });
    const s = await exportProfiles(join(dir, 'emb.parquet'), table);
    const img = await readWithDuckDB(s.profiles.path);
    expect(img.rows.length).toBe(12);
    expect(img.columns.filter((c) => c.type === 'FLOAT').length).toBe(4);
    expect(img.rows[5].slice(9)).toEqual(Array.from(table.features.subarray(20, 24)));
    expect(img.kv).toMatchObject({ model: 'tiny', normalization: 'plate' });
    const wells = await readWithDuckDB(s.wells!.path);
    expect(wells.rows.length).toBe(12); // one site per well here
    expect(wells.kv.aggregation).toBe('mean');
    // Numeric metadata are numbers in the files; the plate key is there, unique per plate.
    expect(img.columns.find((c) => c.name === 'Metadata_Site')?.type).toBe('INTEGER');
    expect(wells.columns.find((c) => c.name === 'Metadata_Count')?.type).toBe('INTEGER');
    expect(wells.rows.every((r) => r[wells.columns.findIndex((c) => c.name === 'Metadata_Count')] === 1)).toBe(true);
    const pk = img.columns.findIndex((c) => c.name === 'Metadata_PlateKey');
    expect(new Set(img.rows.map((r) => r[pk]))).toEqual(new Set(table.meta.Metadata_Experiment.map((e, i) => `${e}/${table.meta.Metadata_Plate[i]}`)));
  });
});
