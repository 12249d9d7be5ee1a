import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/engine/backend.ts';
import { createByol } from '../../src/objectives/byol.ts';
import type { Objective, ObjectiveBatch } from '../../src/objectives/objective.ts';
import { applyPerGroup, arrangeViews, deinterleaveViews, interleaveViews, splitViewArrangement, unarrangeViews } from '../../src/objectives/per-group.ts';
import { createSimclr } from '../../src/objectives/simclr.ts';
import { createSupervised } from '../../src/objectives/supervised.ts';
import { viewBatch } from './batch.ts';
import { TINY_EMBEDDING_DIM, tinyBackbone } from './tiny-backbone.ts';

beforeAll(async () => {
  await initBackend('cpu');
});

/**
 * Two plates in one batch: plate A holds `batch`'s images, plate B the same images plus a
 * per-channel plate offset (a batch effect the tiny backbone's valid conv + BN removes exactly).
 */
function twoPlates(batch: ObjectiveBatch, offset: [number, number]): ObjectiveBatch {
  const c = tf.tensor1d(offset);
  const views = batch.views.map((v) => tf.concat([v, tf.add(v, c)], 0) as tf.Tensor4D);
  const B = batch.views[0].shape[0];
  const labels = tf.tensor1d(Array.from({ length: 2 * B }, (_, i) => i % 3), 'int32');
  return { views, labels, group: 'A+B', bnGroups: [B, B] };
}

const objectivesUnderTest: Array<[string, () => Objective]> = [
  ['simclr', () => createSimclr({ projectorHiddenDim: 8, projectorOutDim: 5 })],
  ['byol', () => createByol({ hiddenDim: 8, projectionDim: 5 })],
  ['supervised', () => createSupervised({})],
];

describe('per-group BatchNorm statistics (BEN with several plates per batch)', () => {
  it('interleaves the views of each group and undoes it', () => {
    const v0 = tf.tensor4d([0, 1, 2, 3, 4], [5, 1, 1, 1]);
    const v1 = tf.tensor4d([10, 11, 12, 13, 14], [5, 1, 1, 1]);
    const x = interleaveViews([v0, v1], [2, 3]);
    expect(Array.from(x.dataSync())).toEqual([0, 1, 10, 11, 2, 3, 4, 12, 13, 14]);
    const back = deinterleaveViews(x, [2, 3], 2);
    expect(Array.from(back[0].dataSync())).toEqual([0, 1, 2, 3, 4]);
    expect(Array.from(back[1].dataSync())).toEqual([10, 11, 12, 13, 14]);
  });

  it('applyPerGroup normalizes each chunk by itself; sizes must cover the batch', () => {
    const net = tinyBackbone(2);
    const x = viewBatch(5, 6, 1).views[0];
    const y = tf.concat([x, tf.add(x, tf.tensor1d([4, -1]))], 0) as tf.Tensor4D;
    const f = (t: tf.Tensor4D) => net.apply(t, { training: true }) as tf.Tensor;
    const per = applyPerGroup(f, y, [6, 6]).arraySync() as number[][];
    // Plate B's embeddings equal plate A's: its offset is removed by its own statistics.
    for (let i = 0; i < 6; i++) for (let j = 0; j < TINY_EMBEDDING_DIM; j++) expect(per[6 + i][j]).toBeCloseTo(per[i][j], 4);
    // One set of statistics for the mixed batch keeps the offset.
    const mixed = f(y).arraySync() as number[][];
    const gap = Math.max(...mixed.slice(0, 6).flatMap((r, i) => r.map((v, j) => Math.abs(v - mixed[6 + i][j]))));
    expect(gap).toBeGreaterThan(0.05);
    expect(() => applyPerGroup(f, y, [6, 5])).toThrow(/sum to 11/);
  });

  for (const [name, make] of objectivesUnderTest) {
    it(`${name}: with bnGroups the loss ignores a per-plate offset; without, it does not`, () => {
      const obj = make();
      obj.build({ backbone: tinyBackbone(3), embeddingDim: TINY_EMBEDDING_DIM, seed: 3, numClasses: 3, buildBackbone: () => tinyBackbone(9) });
      const views = name === 'supervised' ? 1 : 2;
      const base = viewBatch(7, 6, views);
      const clean = obj.loss(twoPlates(base, [0, 0])).loss.dataSync()[0];
      const shifted = twoPlates(base, [3, -2]);
      expect(obj.loss(shifted).loss.dataSync()[0]).toBeCloseTo(clean, 4);
      const { bnGroups: _, ...oneGroup } = shifted;
      expect(Math.abs(obj.loss(oneGroup).loss.dataSync()[0] - clean)).toBeGreaterThan(1e-3);
    });
  }

  it('splitViewArrangement: every BN group is one plate, never two views of an image, every row once', () => {
    for (const [sizes, V] of [[[8], 2], [[5, 3], 2], [[7, 4, 6], 3], [[16, 16, 16, 16], 2], [[1, 4], 2]] as Array<[number[], number]>) {
      const { blocks, groupSizes } = splitViewArrangement(sizes, V);
      const B = sizes.reduce((a, b) => a + b, 0);
      const plateOf = (b: number) => { let s = 0; for (let g = 0; g < sizes.length; g++) { s += sizes[g]; if (b < s) return g; } return -1; };
      // Walk the blocks group by group (groupSizes cut the concatenated blocks; no block straddles).
      const seen = new Set<string>();
      let bi = 0;
      for (const size of groupSizes) {
        let rows = 0;
        const images = new Set<number>();
        const plates = new Set<number>();
        const viewsIn = new Set<number>();
        while (rows < size) {
          const blk = blocks[bi++];
          rows += blk.size;
          viewsIn.add(blk.view);
          for (let b = blk.start; b < blk.start + blk.size; b++) {
            expect(images.has(b)).toBe(false); // no image twice in one group
            images.add(b);
            plates.add(plateOf(b));
            seen.add(`${blk.view}:${b}`);
          }
        }
        expect(rows).toBe(size);
        expect(plates.size).toBe(1);
        if (size > 1) expect(viewsIn.size).toBeGreaterThan(1); // both views in a group: it is not a per-view split
      }
      expect(bi).toBe(blocks.length);
      expect(seen.size).toBe(V * B);
      expect(groupSizes.reduce((a, b) => a + b, 0)).toBe(V * B);
    }
    // V = 2, one plate of 6: [view 0 of 0-2, view 1 of 3-5], [view 0 of 3-5, view 1 of 0-2].
    expect(splitViewArrangement([6], 2)).toEqual({
      blocks: [{ view: 0, start: 0, size: 3 }, { view: 1, start: 3, size: 3 }, { view: 0, start: 3, size: 3 }, { view: 1, start: 0, size: 3 }],
      groupSizes: [6, 6],
    });
  });

  it('arrangeViews / unarrangeViews reorder the rows and undo it', () => {
    const v0 = tf.tensor4d([0, 1, 2, 3, 4], [5, 1, 1, 1]);
    const v1 = tf.tensor4d([10, 11, 12, 13, 14], [5, 1, 1, 1]);
    const a = splitViewArrangement([3, 2], 2);
    const x = arrangeViews([v0, v1], a);
    // Plate 1 (rows 0-2): halves {0}, {1, 2}; plate 2 (rows 3-4): {3}, {4}.
    expect(Array.from(x.dataSync())).toEqual([0, 11, 12, 1, 2, 10, 3, 14, 4, 13]);
    expect(a.groupSizes).toEqual([3, 3, 2, 2]);
    const back = unarrangeViews(x, a, 2);
    expect(Array.from(back[0].dataSync())).toEqual([0, 1, 2, 3, 4]);
    expect(Array.from(back[1].dataSync())).toEqual([10, 11, 12, 13, 14]);
  });
});
