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
import { BatchPipeline, SampledBatchSource } from '../../src/data/pipeline.ts';
import { PlateBatchSampler } from '../../src/data/samplers/index.ts';
import { createBatchSource } from '../../src/data/batch-source.ts';

let dir: string;
let ds: Dataset;
beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = join(mkdtempSync(join(tmpdir(), 'ben-pipeline-')), 'tiny');
  await generateSynthetic(resolveSynthConfig('tiny', { seed: 2 }), dir);
  ds = await readDataset(dir);
});

describe('BatchPipeline', () => {
  it('turns row ids into [B,H,W,C] float32 views and int32 labels', () => {
    const p = new BatchPipeline(ds, { seed: 1, views: 2, augment: 'ssl' });
    const a = p.assembleSync([3, 10, 20]);
    expect(a.shape).toEqual([3, 32, 32, 3]);
    expect(a.views).toHaveLength(2);
    expect(Array.from(a.labels)).toEqual([3, 10, 20].map((i) => ds.classIds()[i]));
    expect(a.views[0]).not.toEqual(a.views[1]); // two different views of the same images
    const none = new BatchPipeline(ds, { seed: 1, augment: 'none' }).assembleSync([7]);
    // 'none' = per-image standardisation of the stored pixels.
    const px = ds.images.getSync(7);
    for (let c = 0; c < 3; c++) {
      const v = Array.from(px).filter((_, i) => i % 3 === c);
      const m = v.reduce((s, x) => s + x, 0) / v.length;
      const sd = Math.sqrt(v.reduce((s, x) => s + (x - m) ** 2, 0) / v.length);
      expect(none.views[0][c]).toBeCloseTo((px[c] - m) / sd, 4);
    }
  });

  it('viewAugment: each view gets its own chain, drawn from the one seeded stream', () => {
    const flipOnly = [{ name: 'flip', vertical: false, p: 1 }, { name: 'standardize' }];
    const p = new BatchPipeline(ds, { seed: 6, views: 2, viewAugment: ['none', flipOnly] });
    const a = p.assembleSync([4, 11]);
    const none = new BatchPipeline(ds, { seed: 6, augment: 'none' }).assembleSync([4, 11]).views[0];
    // View 0 is the standardised image, view 1 its mirror (column x <-> W-1-x), image by image.
    expect(a.views[0]).toEqual(none);
    const [, H, W, C] = a.shape;
    for (let b = 0; b < 2; b++)
      for (const [y, x, c] of [[0, 0, 0], [5, 3, 1], [H - 1, 7, 2]])
        expect(a.views[1][((b * H + y) * W + x) * C + c]).toBeCloseTo(none[((b * H + y) * W + (W - 1 - x)) * C + c], 6);
    expect(() => new BatchPipeline(ds, { seed: 6, views: 2, viewAugment: ['none'] })).toThrow(/1 chains for 2 views/);
  });

  it('decoding on demand gives the same batch as in memory', async () => {
    const lazy = await readDataset(dir, { load: false });
    const a = await new BatchPipeline(lazy, { seed: 4, views: 2 }).assemble([1, 2, 50]);
    const b = new BatchPipeline(ds, { seed: 4, views: 2 }).assembleSync([1, 2, 50]);
    expect(a.views).toEqual(b.views);
  });

  it("positives 'well': the views of an image are different sites of its well, one of them the image", () => {
    const p = new BatchPipeline(ds, { seed: 5, views: 2, augment: 'none', positives: 'well' });
    const single = new BatchPipeline(ds, { seed: 5, views: 1, augment: 'none' });
    const wellOf = (i: number) => `${ds.rows[i].experiment}/${ds.rows[i].plate}/${ds.rows[i].well}`;
    const idx = [0, 5, 9, 30];
    const a = p.assembleSync(idx);
    const per = a.shape[1] * a.shape[2] * a.shape[3];
    const sitesOfView = (v: number, b: number) => {
      const got = a.views[v].slice(b * per, (b + 1) * per);
      // Which row of the well this view is (augment 'none' = standardised pixels of that row).
      return ds.rows.flatMap((_, r) => (wellOf(r) === wellOf(idx[b]) && single.assembleSync([r]).views[0].every((x, k) => x === got[k]) ? [r] : []));
    };
    for (let b = 0; b < idx.length; b++) {
      const [r0] = sitesOfView(0, b);
      const [r1] = sitesOfView(1, b);
      expect(r0).toBeDefined();
      expect(r1).toBeDefined();
      expect(r0).not.toBe(r1);
      expect([r0, r1]).toContain(idx[b]);
    }
    expect(Array.from(a.labels)).toEqual(idx.map((i) => ds.classIds()[i]));
  });

  it("unit 'well': every batch draws distinct wells and resumes with identical views", async () => {
    const make = () => createBatchSource(ds, { sampler: { type: 'plate', batchSize: 4, unit: 'well' }, views: 2, augment: 'ssl', seed: 1 });
    const src = make();
    const wells = new Set(ds.rows.map((r) => `${r.experiment}/${r.plate}/${r.well}`));
    // The sampler holds one entry per well (not per site), so a batch never holds a well twice.
    const groups = (src.sampler as PlateBatchSampler).groups;
    expect(groups.reduce((n, g) => n + g.rows.length, 0)).toBe(wells.size);
    expect(wells.size).toBeLessThan(ds.rows.length);
    for (let i = 0; i < 3; i++) {
      const b = await src.next();
      const ids = Array.from(b.labels!.dataSync());
      expect(ids).toHaveLength(4);
      tf.dispose([...b.views, b.labels!]);
    }
    const state = JSON.parse(JSON.stringify(src.getState()));
    const want = await src.next();
    const resumed = make();
    resumed.setState(state);
    const got = await resumed.next();
    expect(got.views.map((v) => Array.from(v.dataSync()))).toEqual(want.views.map((v) => Array.from(v.dataSync())));
    tf.dispose([...want.views, want.labels!, ...got.views, got.labels!]);
    // One site per well (RxRx1-WILDS `train` alone): a clear error instead of silent image positives.
    const site1 = ds.filter((r) => r.site === 1);
    expect(() => createBatchSource(site1, { sampler: { type: 'plate', batchSize: 4, unit: 'well' }, views: 2, seed: 1 })).toThrow(/single site.*id_test/);
  });

  it('SampledBatchSource: per-group statistics pass the plate chunks to the objective', async () => {
    const sampler = () => new PlateBatchSampler(ds.rows, { seed: 3, batchSize: 6, groupsPerBatch: 2 });
    const per = await new SampledBatchSource(sampler(), new BatchPipeline(ds, { seed: 3, views: 2 }), true).next();
    expect(per.bnGroups).toEqual([3, 3]);
    expect(per.group.split('+')).toHaveLength(2);
    const mixed = await new SampledBatchSource(sampler(), new BatchPipeline(ds, { seed: 3, views: 2 })).next();
    expect(mixed.bnGroups).toBeUndefined();
    tf.dispose([...per.views, per.labels!, ...mixed.views, mixed.labels!]);
  });

  it('SampledBatchSource: plate batches as tensors, no leaks, resumes with identical views', async () => {
    const make = () => new SampledBatchSource(new PlateBatchSampler(ds.rows, { seed: 3, batchSize: 6 }), new BatchPipeline(ds, { seed: 3, views: 2 }));
    const src = make();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 4; i++) {
      const b = await src.next();
      expect(b.views[0].shape).toEqual([6, 32, 32, 3]);
      expect(b.labels!.dtype).toBe('int32');
      expect(b.group).toMatch(/^[A-Z0-9]+-\d+\/\d+$/);
      tf.dispose([...b.views, b.labels!]);
    }
    expect(tf.memory().numTensors).toBe(before);
    const state = JSON.parse(JSON.stringify(src.getState()));
    const want = [];
    for (let i = 0; i < 3; i++) {
      const b = await src.next();
      want.push(b.views.map((v) => Array.from(v.dataSync())));
      tf.dispose([...b.views, b.labels!]);
    }
    const resumed = make();
    resumed.setState(state);
    for (let i = 0; i < 3; i++) {
      const b = await resumed.next();
      expect(b.views.map((v) => Array.from(v.dataSync()))).toEqual(want[i]);
      tf.dispose([...b.views, b.labels!]);
    }
  });
});
