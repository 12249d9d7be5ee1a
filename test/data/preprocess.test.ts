import { describe, expect, it, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSynthetic } from '../../src/data/synth/generate.ts';
import { resolveSynthConfig } from '../../src/data/synth/config.ts';
import { readDataset } from '../../src/data/readers/index.ts';
import type { Dataset } from '../../src/data/image-dataset.ts';
import { BatchPipeline } from '../../src/data/pipeline.ts';
import { modelInputBatch, standardizeBatch } from '../../src/data/preprocess.ts';
import { standardizeImages } from '../../src/embedding/embedder.ts';

let ds: Dataset;
beforeAll(async () => {
  await tf.setBackend('cpu');
  const dir = join(mkdtempSync(join(tmpdir(), 'ben-preprocess-')), 'tiny');
  await generateSynthetic(resolveSynthConfig('tiny', { seed: 3 }), dir);
  ds = await readDataset(dir);
});

describe('model input preprocessing (shared by training and embedding)', () => {
  it('equals the training pipeline with its random parts switched off, bit for bit', () => {
    const rows = [0, 5, 17];
    const px = rows.map((i) => ds.images.getSync(i));
    // Full-image box at a fixed size, then standardisation: the training chain's deterministic core.
    const chain = [{ name: 'random-resized-crop', scale: [1, 1], ratio: [1, 1], size: 16 }, { name: 'standardize' }];
    const train = new BatchPipeline(ds, { seed: 4, augment: chain }).assembleSync(rows);
    const x = standardizeBatch(px, ds.images, 16);
    expect(x.shape).toEqual([3, 16, 16, 3]);
    expect(Array.from(x.dataSync())).toEqual(Array.from(train.views[0]));
    x.dispose();
    // Without a resize: the pipeline's `none` preset and the embedder's standardize preprocessing.
    const none = new BatchPipeline(ds, { seed: 4, augment: 'none' }).assembleSync(rows);
    const e = standardizeImages(px, ds.images);
    expect(Array.from(e.dataSync())).toEqual(Array.from(none.views[0]));
    e.dispose();
  });

  it('standardises each channel against a float64 reference; standardize:false keeps the [0, 1] scale', () => {
    const px = ds.images.getSync(2);
    const v = standardizeBatch([px], ds.images).dataSync();
    const raw = modelInputBatch([px], ds.images, { standardize: false }).dataSync();
    const C = 3;
    const n = px.length / C;
    for (let c = 0; c < C; c++) {
      let m = 0;
      for (let p = 0; p < n; p++) m += px[p * C + c] / 255;
      m /= n;
      let s = 0;
      for (let p = 0; p < n; p++) s += (px[p * C + c] / 255 - m) ** 2;
      s = Math.sqrt(s / n);
      for (const p of [0, 7, n - 1]) {
        expect(v[p * C + c]).toBeCloseTo((px[p * C + c] / 255 - m) / s, 4);
        expect(raw[p * C + c]).toBeCloseTo(px[p * C + c] / 255, 6);
      }
    }
  });
});
