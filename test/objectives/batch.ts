import * as tf from '@tensorflow/tfjs-core';
import type { ObjectiveBatch } from '../../src/objectives/objective.ts';
import { Rng } from '../../src/util/rng.ts';

/**
 * A fixed multi-view batch for objective tests: B random 6x6x2 images; view v is the image plus
 * small independent noise (a stand-in for augmentations), optionally plus a per-channel plate
 * offset added to every image of every view.
 */
export function viewBatch(seed: number, B: number, V: number, plateOffset: [number, number] = [0, 0]): ObjectiveBatch {
  const rng = new Rng(seed);
  const n = B * 6 * 6 * 2;
  const base = Float32Array.from({ length: n }, () => rng.normal());
  const views = Array.from({ length: V }, () => {
    const v = Float32Array.from(base, (x, i) => x + 0.1 * rng.normal() + plateOffset[i % 2]);
    return tf.tensor4d(v, [B, 6, 6, 2]);
  });
  return { views, group: 'EXP-1/plate-1' };
}

/** Adds a per-channel constant to every image of every view (a plate-wide batch effect). */
export function shiftBatch(batch: ObjectiveBatch, offset: [number, number]): ObjectiveBatch {
  const c = tf.tensor1d(offset);
  const views = batch.views.map((v) => tf.add(v, c) as tf.Tensor4D);
  c.dispose();
  return { ...batch, views };
}
