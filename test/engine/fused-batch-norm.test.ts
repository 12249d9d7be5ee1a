import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/engine/backend.ts';
import { Rng } from '../../src/util/rng.ts';

interface Case {
  name: string;
  shape: number[];
  /** Shape of mean/variance/offset/scale. */
  stat: number[];
  offset: boolean;
  scale: boolean;
}

const cases: Case[] = [
  { name: 'per channel, C=8, offset and scale', shape: [3, 4, 5, 8], stat: [8], offset: true, scale: true },
  { name: 'per channel, C=12, no offset or scale', shape: [2, 3, 12], stat: [12], offset: false, scale: false },
  { name: 'C=6 (not a multiple of 4: bundled kernel)', shape: [2, 3, 3, 6], stat: [6], offset: true, scale: true },
  { name: 'rank-4 statistics [1,1,1,C]', shape: [2, 3, 3, 8], stat: [1, 1, 1, 8], offset: true, scale: false },
];

function run(c: Case, seed: number): Float32Array {
  const rng = new Rng(seed);
  const r = (shape: number[], lo = -2, hi = 2) => tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.uniform(lo, hi)), shape);
  return tf.tidy(() => {
    const x = r(c.shape);
    const mean = r(c.stat);
    const variance = r(c.stat, 0.1, 3);
    const offset = r(c.stat);
    const scale = r(c.stat);
    return tf.batchNorm(x, mean, variance, c.offset ? offset : undefined, c.scale ? scale : undefined, 1e-3).dataSync() as Float32Array;
  });
}

describe('wasm FusedBatchNorm (inference BatchNorm) vs cpu', () => {
  beforeAll(async () => {
    await initBackend('cpu');
    await initBackend('wasm');
  });

  for (const c of cases) {
    it(c.name, async () => {
      await tf.setBackend('cpu');
      const want = run(c, 3);
      await tf.setBackend('wasm');
      const before = tf.memory().numTensors;
      const got = run(c, 3);
      expect(tf.memory().numTensors).toBe(before);
      for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThan(1e-5 * Math.max(1, Math.abs(want[i])));
    });
  }
});
