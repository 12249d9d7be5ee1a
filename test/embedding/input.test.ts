/**
 * Fitting images of any size to a model's input (embedding/input.ts) and loading saved models for
 * embedding (embedding/saved-model.ts): tile geometry, and the tiles / center-crop / resize
 * embeddings of a model whose output is the per-channel mean of its input, against the same
 * means computed by hand from the pixels.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Dataset } from '../../src/data/image-dataset.ts';
import { MemoryImageStore } from '../../src/data/image-store.ts';
import type { SiteRecord } from '../../src/data/types.ts';
import { embedDataset } from '../../src/embedding/embedder.ts';
import { cropOrigins, modelInputFor, tileOrigins } from '../../src/embedding/input.ts';
import { loadEmbeddingModel } from '../../src/embedding/saved-model.ts';
import { saveModel } from '../../src/models/io.ts';
import { matchModelChannels } from '../../src/embedding/model-channels.ts';
import { modelInputBatch } from '../../src/data/preprocess.ts';
import { Rng } from '../../src/util/rng.ts';
import { isUserError } from '../../src/util/errors.ts';

const H = 70, W = 75, C = 2, S = 32, N = 3;
const root = mkdtempSync(join(tmpdir(), 'ben-input-'));
let data: Dataset;
let pixels: Uint8Array;

/** Rows of N sites, one plate, random 8-bit pixels. */
function makeData(): Dataset {
  const rng = new Rng(7);
  pixels = Uint8Array.from({ length: N * H * W * C }, () => Math.floor(rng.next() * 256));
  const rows: SiteRecord[] = Array.from({ length: N }, (_, i) => ({
    siteId: `s${i}`, experiment: 'E', plate: '1', well: `A0${i + 1}`, site: 1, cellType: '', label: 'x',
    wellType: 'treatment', split: 'all', paths: [], extra: {}, source: `row ${i}`,
  }));
  return new Dataset({ rows, channels: ['DNA', 'GFP'], images: new MemoryImageStore({ height: H, width: W, channels: C, dtype: 'uint8' }, pixels), root: 'mem', layout: 'test' });
}

/** Per-channel mean of image `i`'s pixels / 255 over the box [y, y + S) x [x, x + S). */
function boxMean(i: number, y: number, x: number): number[] {
  const m = new Array<number>(C).fill(0);
  for (let r = y; r < y + S; r++) for (let c = x; c < x + S; c++) for (let k = 0; k < C; k++) m[k] += pixels[((i * H + r) * W + c) * C + k] / 255;
  return m.map((v) => v / (S * S));
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  data = makeData();
  // Output = per-channel mean of the (scaled, not standardised) input.
  const input = tfl.input({ shape: [S, S, C] });
  const out = tfl.layers.globalAveragePooling2d({}).apply(input) as tfl.SymbolicTensor;
  await saveModel(tfl.model({ inputs: input, outputs: out }), join(root, 'gap'), { embeddingDim: C, inputSize: S, preprocess: 'scale', resizeMode: 'tiles' });
});

describe('tile geometry', () => {
  it('covers the field with evenly spread windows, first at 0, last at the edge', () => {
    expect(tileOrigins(64, 32)).toEqual([0, 32]);
    expect(tileOrigins(32, 32)).toEqual([0]);
    expect(tileOrigins(70, 32)).toEqual([0, 19, 38]);
    expect(tileOrigins(640, 48)).toHaveLength(14);
    expect(tileOrigins(640, 48).at(-1)).toBe(592);
    expect(cropOrigins('tiles', { height: H, width: W }, S)).toHaveLength(9);
    expect(cropOrigins('center-crop', { height: H, width: W }, S)).toEqual([[19, 21]]);
  });

  it('refuses crops larger than the image, naming the fix', () => {
    try {
      cropOrigins('center-crop', { height: 20, width: 40 }, 32);
      expect.unreachable();
    } catch (e) {
      expect(isUserError(e)).toBe(true);
      expect((e as Error).message).toMatch(/20x40, smaller than the model input 32x32.*--resize-mode resize/);
    }
  });
});

describe('embedding images of another size than the model input', () => {
  it('tiles: the mean of the tile embeddings, equal to a hand computation', async () => {
    const em = await loadEmbeddingModel(join(root, 'gap'));
    expect(em.resizeMode).toBe('tiles'); // the model's recorded default
    expect(em.keyValue).toEqual({ preprocess: 'scale', resize_mode: 'tiles', input_size: '32' });
    const { table } = await embedDataset(em.model, data, { normalization: 'running', preprocess: em.preprocess, inputSize: em.inputSize, batchSize: 2, keyValue: em.keyValue });
    em.dispose();
    const ys = [0, 19, 38], xs = [0, 22, 43];
    for (let i = 0; i < N; i++) {
      const want = new Array<number>(C).fill(0);
      for (const y of ys) for (const x of xs) boxMean(i, y, x).forEach((v, k) => (want[k] += v / 9));
      for (let k = 0; k < C; k++) expect(table.features[i * C + k]).toBeCloseTo(want[k], 5);
    }
    expect(table.keyValue).toMatchObject({ resize_mode: 'tiles', preprocess: 'scale', input_size: '32' });
    // batchSize counts model inputs when the embedder knows the tiles per image: same embeddings.
    const em2 = await loadEmbeddingModel(join(root, 'gap'));
    expect(em2.inputsPerImage(data.images)).toBe(9);
    const t2 = await embedDataset(em2.model, data, { normalization: 'running', preprocess: em2.preprocess, inputSize: em2.inputSize, batchSize: 18, inputsPerImage: 9 });
    em2.dispose();
    for (let q = 0; q < N * C; q++) expect(t2.table.features[q]).toBeCloseTo(table.features[q], 6);
    expect(t2.table.keyValue).toMatchObject({ inputs_per_image: '9', batch_size: '18' });
  });

  it('center-crop: the central crop; resize: the whole field resized (the training path)', async () => {
    const cc = await loadEmbeddingModel(join(root, 'gap'), { resizeMode: 'center-crop' });
    const a = await embedDataset(cc.model, data, { normalization: 'running', preprocess: cc.preprocess, inputSize: cc.inputSize });
    cc.dispose();
    for (let i = 0; i < N; i++) boxMean(i, 19, 21).forEach((v, k) => expect(a.table.features[i * C + k]).toBeCloseTo(v, 5));

    const rs = await loadEmbeddingModel(join(root, 'gap'), { resizeMode: 'resize' });
    const b = await embedDataset(rs.model, data, { normalization: 'running', preprocess: rs.preprocess, inputSize: rs.inputSize });
    rs.dispose();
    const x = modelInputBatch([0, 1, 2].map((i) => data.images.getSync(i)), data.images, { size: S, standardize: false });
    const want = tf.mean(x, [1, 2]).dataSync();
    x.dispose();
    for (let q = 0; q < N * C; q++) expect(b.table.features[q]).toBeCloseTo(want[q], 5);
  });

  it('a tiles preprocessing gives k inputs per image, consecutive', () => {
    const pre = modelInputFor({ mode: 'tiles', size: S, standardize: true });
    const x = pre([data.images.getSync(0), data.images.getSync(1)], data.images);
    expect(x.shape).toEqual([18, S, S, C]);
    x.dispose();
  });

  it('refuses a fixed-size model on other-size images (naming the loader) and a channel mismatch (naming the channels)', async () => {
    const input = tfl.input({ shape: [S, S, C] });
    const m = tfl.model({ inputs: input, outputs: tfl.layers.globalAveragePooling2d({}).apply(input) as tfl.SymbolicTensor });
    await expect(embedDataset(m, data, { normalization: 'running' })).rejects.toThrow(/loadEmbeddingModel/);
    const in3 = tfl.input({ shape: [null, null, 3] });
    const m3 = tfl.model({ inputs: in3, outputs: tfl.layers.globalAveragePooling2d({}).apply(in3) as tfl.SymbolicTensor });
    await expect(embedDataset(m3, data, { normalization: 'running', inputSize: S })).rejects.toThrow(/takes images of 3 channels but the data set's images have 2 \(DNA, GFP/);
  });
});

describe('model channels by name', () => {
  it('the same names (OrigDNA = DNA) keep the data set; a model without names takes channels by position, with a warning', () => {
    const lines: string[] = [];
    const d = makeData();
    expect(matchModelChannels(['OrigDNA', 'gfp'], d, 'm', (l) => lines.push(l))).toBe(d);
    expect(lines).toEqual([]);
    expect(matchModelChannels(undefined, d, 'm', (l) => lines.push(l))).toBe(d);
    expect(lines[0]).toMatch(/does not record the channels .* taken by position/);
  });

  it('reorders or picks channels by name, in memory and decoded on demand, and refuses a missing one naming both lists', async () => {
    const d = makeData();
    const lines: string[] = [];
    const swapped = matchModelChannels(['GFP', 'DNA'], d, 'm', (l) => lines.push(l));
    expect(swapped.channels).toEqual(['GFP', 'DNA']);
    expect(lines[0]).toMatch(/\[DNA, GFP\] are fed as the model's \[GFP, DNA\]/);
    const px = swapped.images.getSync(1);
    const per = H * W * C;
    for (const p of [0, 17, H * W - 1]) {
      expect(px[p * 2]).toBe(pixels[per + p * 2 + 1]);
      expect(px[p * 2 + 1]).toBe(pixels[per + p * 2]);
    }
    const gfp = matchModelChannels(['GFP'], d, 'm');
    expect(gfp.images.channels).toBe(1);
    expect(Array.from(gfp.images.getSync(2).subarray(0, 3))).toEqual([pixels[2 * per + 1], pixels[2 * per + 3], pixels[2 * per + 5]]);
    // A store that decodes on demand reorders each image as it comes.
    const mem = d.images;
    const lazy = new Dataset({ ...d, images: { ...mem, inMemory: false, size: mem.size, height: H, width: W, channels: C, dtype: 'uint8', get: (i: number) => mem.get(i), getSync: () => { throw new Error('lazy'); }, subset: (ix: ArrayLike<number>) => mem.subset(ix) } });
    const lazySwapped = matchModelChannels(['GFP', 'DNA'], lazy, 'm');
    expect(lazySwapped.images.inMemory).toBe(false);
    expect(Array.from(await lazySwapped.images.get(1))).toEqual(Array.from(px));
    let err: unknown;
    try {
      matchModelChannels(['DNA', 'ER'], d, 'runs/x/model');
    } catch (e) {
      err = e;
    }
    expect(isUserError(err)).toBe(true);
    expect((err as Error).message).toMatch(/runs\/x\/model was trained on channels \[DNA, ER\] but the data set mem has \[DNA, GFP\]: ER is missing/);
  });
});
