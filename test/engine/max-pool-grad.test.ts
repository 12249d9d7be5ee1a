import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/engine/backend.ts';
import { Rng } from '../../src/util/rng.ts';

interface Case {
  shape: [number, number, number, number];
  k: number;
  s: number;
  pad: 'same' | 'valid';
  ties?: boolean;
}

/** dx of sum(maxPool(x) * w) on the current backend. */
function grad(c: Case, x: Float32Array, w: Float32Array): Float32Array {
  return tf.tidy(() => {
    const xt = tf.tensor4d(x, c.shape);
    const y = tf.maxPool(xt, c.k, c.s, c.pad);
    const wt = tf.tensor(w, y.shape);
    const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(a as tf.Tensor4D, c.k, c.s, c.pad), wt)));
    return g(xt).dataSync() as Float32Array;
  });
}

const cases: Case[] = [
  { shape: [2, 8, 8, 4], k: 3, s: 2, pad: 'same' },
  { shape: [3, 7, 9, 5], k: 3, s: 2, pad: 'same' },
  { shape: [2, 6, 6, 3], k: 2, s: 2, pad: 'valid' },
  { shape: [1, 9, 8, 2], k: 3, s: 1, pad: 'same' },
  { shape: [2, 11, 10, 3], k: 3, s: 3, pad: 'valid' },
  // Overlapping windows and many equal values: the first maximum of each window wins.
  { shape: [2, 8, 8, 3], k: 3, s: 2, pad: 'same', ties: true },
  // C a multiple of 4: the SIMD path.
  { shape: [2, 9, 7, 8], k: 3, s: 2, pad: 'same' },
  { shape: [1, 10, 11, 12], k: 2, s: 2, pad: 'valid' },
  { shape: [2, 6, 5, 4], k: 3, s: 1, pad: 'same' },
  { shape: [2, 9, 9, 8], k: 3, s: 2, pad: 'same', ties: true },
  { shape: [1, 7, 8, 16], k: 3, s: 3, pad: 'valid', ties: true },
];

describe('wasm MaxPoolGrad vs the cpu backend', () => {
  beforeAll(async () => {
    await initBackend('cpu');
    await initBackend('wasm');
  });

  for (const c of cases) {
    it(`${c.shape} pool ${c.k}/${c.s} ${c.pad}${c.ties ? ' with ties' : ''}`, async () => {
      const rng = new Rng(c.shape[1] * 31 + c.k);
      const n = c.shape.reduce((a, b) => a * b, 1);
      const x = Float32Array.from({ length: n }, () => (c.ties ? rng.int(3) : rng.normal()));
      const ho = c.pad === 'same' ? Math.ceil(c.shape[1] / c.s) : Math.ceil((c.shape[1] - c.k + 1) / c.s);
      const wo = c.pad === 'same' ? Math.ceil(c.shape[2] / c.s) : Math.ceil((c.shape[2] - c.k + 1) / c.s);
      const w = Float32Array.from({ length: c.shape[0] * ho * wo * c.shape[3] }, () => rng.normal());
      await tf.setBackend('cpu');
      const want = grad(c, x, w);
      await tf.setBackend('wasm');
      const before = tf.memory().numTensors;
      const got = grad(c, x, w);
      expect(tf.memory().numTensors).toBe(before);
      expect(got.length).toBe(want.length);
      for (let i = 0; i < n; i++) expect(Math.abs(got[i] - want[i])).toBeLessThan(1e-5);
    });
  }
});
