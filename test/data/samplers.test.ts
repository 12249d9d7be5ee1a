import { describe, expect, it, beforeAll } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSynthetic } from '../../src/data/synth/generate.ts';
import { resolveSynthConfig } from '../../src/data/synth/config.ts';
import { readDataset } from '../../src/data/readers/index.ts';
import { groupKey } from '../../src/data/image-dataset.ts';
import { PlateBatchSampler, RandomBatchSampler, samplers, type Batch } from '../../src/data/samplers/index.ts';
import type { SiteRecord } from '../../src/data/types.ts';

let rows: SiteRecord[];
beforeAll(async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'ben-samplers-')), 'tiny');
  await generateSynthetic(resolveSynthConfig('tiny', { seed: 1 }), dir);
  rows = (await readDataset(dir, { load: false })).rows; // 144 rows, 8 plates of 18
});

const epoch = (s: { next(): Batch; batchesPerEpoch: number }) => Array.from({ length: s.batchesPerEpoch }, () => s.next());
const covered = (bs: Batch[]) => bs.flatMap((b) => Array.from(b.indices)).sort((a, b) => a - b);

describe('PlateBatchSampler', () => {
  it('every batch comes from one plate and an epoch covers every image exactly once', () => {
    const s = new PlateBatchSampler(rows, { seed: 5, batchSize: 8 });
    for (let e = 0; e < 2; e++) {
      const bs = epoch(s);
      expect(covered(bs)).toEqual(rows.map((_, i) => i));
      for (const b of bs) {
        expect(new Set(Array.from(b.indices, (i) => groupKey(rows[i], ['experiment', 'plate'])))).toEqual(new Set([b.group]));
        expect(b.indices.length).toBeLessThanOrEqual(8);
      }
      // 18 images per plate -> 8, 8, 2 per plate.
      expect(bs.map((b) => b.indices.length).sort()).toEqual([...Array(8).fill(2), ...Array(16).fill(8)].sort());
    }
  });

  it('drop-last keeps only full batches; whole-group batches are plates; experiment grouping', () => {
    const d = epoch(new PlateBatchSampler(rows, { seed: 5, batchSize: 8, dropLast: true }));
    expect(d.every((b) => b.indices.length === 8)).toBe(true);
    expect(d).toHaveLength(16);
    const whole = epoch(new PlateBatchSampler(rows, { seed: 5, batchSize: 'group' }));
    expect(whole).toHaveLength(8);
    expect(whole.every((b) => b.indices.length === 18)).toBe(true);
    const byExp = epoch(new PlateBatchSampler(rows, { seed: 5, batchSize: 'group', groupKeys: ['experiment'] }));
    expect(byExp).toHaveLength(4);
    for (const b of byExp) expect(new Set(Array.from(b.indices, (i) => rows[i].experiment)).size).toBe(1);
  });

  it('groups per batch: k chunks from k distinct plates, contiguous', () => {
    const s = new PlateBatchSampler(rows, { seed: 2, batchSize: 12, groupsPerBatch: 2 });
    const bs = epoch(s);
    expect(covered(bs)).toEqual(rows.map((_, i) => i));
    const full = bs.filter((b) => b.groups.length === 2);
    expect(full.length).toBeGreaterThan(0);
    for (const b of full) {
      expect(b.chunkSizes).toEqual([6, 6]);
      expect(b.groups[0]).not.toBe(b.groups[1]);
      const keys = Array.from(b.indices, (i) => groupKey(rows[i], ['experiment', 'plate']));
      expect(new Set(keys.slice(0, 6))).toEqual(new Set([b.groups[0]]));
      expect(new Set(keys.slice(6))).toEqual(new Set([b.groups[1]]));
    }
  });

  it('is deterministic given the seed, differs across seeds and epochs, and resumes identically', () => {
    const a = new PlateBatchSampler(rows, { seed: 9, batchSize: 8 });
    const b = new PlateBatchSampler(rows, { seed: 9, batchSize: 8 });
    const c = new PlateBatchSampler(rows, { seed: 10, batchSize: 8 });
    const ea = epoch(a);
    expect(epoch(b).map((x) => Array.from(x.indices))).toEqual(ea.map((x) => Array.from(x.indices)));
    expect(epoch(c).map((x) => Array.from(x.indices))).not.toEqual(ea.map((x) => Array.from(x.indices)));
    expect(a.epochPlan(1).map((x) => Array.from(x.indices))).not.toEqual(ea.map((x) => Array.from(x.indices)));
    // Resume mid-epoch 1 from a saved state (JSON round trip, as in a checkpoint).
    for (let i = 0; i < 5; i++) a.next();
    const state = JSON.parse(JSON.stringify(a.getState()));
    const want = Array.from({ length: 30 }, () => Array.from(a.next().indices));
    const resumed = new PlateBatchSampler(rows, { seed: 9, batchSize: 8 });
    resumed.setState(state);
    expect(Array.from({ length: 30 }, () => Array.from(resumed.next().indices))).toEqual(want);
  });

  it('shuffle: false keeps table order inside each plate', () => {
    const bs = epoch(new PlateBatchSampler(rows, { seed: 1, batchSize: 'group', shuffle: false }));
    for (const b of bs) expect(Array.from(b.indices)).toEqual([...b.indices].sort((x, y) => x - y));
  });

  it('refuses impossible options with a clear message', () => {
    expect(() => new PlateBatchSampler(rows, { seed: 1, batchSize: 10, groupsPerBatch: 3 })).toThrow(/not divisible/);
    expect(() => new PlateBatchSampler(rows, { seed: 1, batchSize: 9, groupsPerBatch: 9 })).toThrow(/exceeds the 8 groups/);
    expect(() => new PlateBatchSampler(rows, { seed: 1, batchSize: 64, dropLast: true }).next()).toThrow(/lower the batch size/);
  });
});

describe('RandomBatchSampler and the registry', () => {
  it('covers every image once per epoch and mixes plates', () => {
    const s = samplers.get('random')(rows, { seed: 3, batchSize: 16 });
    expect(s).toBeInstanceOf(RandomBatchSampler);
    const bs = epoch(s);
    expect(covered(bs)).toEqual(rows.map((_, i) => i));
    const platesPerBatch = bs.map((b) => new Set(Array.from(b.indices, (i) => groupKey(rows[i], ['experiment', 'plate']))).size);
    expect(Math.max(...platesPerBatch)).toBeGreaterThan(4);
    expect(samplers.get('plate')(rows, { seed: 3, batchSize: 16 })).toBeInstanceOf(PlateBatchSampler);
    expect(() => samplers.register('plate', () => s)).toThrow(/already registered/);
  });
});
