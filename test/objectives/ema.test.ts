import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/engine/backend.ts';
import { cosineMomentum, emaUpdate, emaValue } from '../../src/objectives/ema.ts';
import { Rng } from '../../src/util/rng.ts';

beforeAll(async () => {
  await initBackend('cpu'); // also registers tfjs-core's gradients
});

describe('cosineMomentum (BYOL section 3.2)', () => {
  it('goes from base at step 0 through the midpoint to final at the last step', () => {
    expect(cosineMomentum(0, 100)).toBe(0.99);
    expect(cosineMomentum(50, 100)).toBeCloseTo(0.995, 12);
    expect(cosineMomentum(100, 100)).toBe(1);
    expect(cosineMomentum(0, 10, 0.996, 1)).toBeCloseTo(0.996, 12);
  });

  it('equals 1 - (1 - base)(cos(pi k / K) + 1) / 2 at every step and never decreases', () => {
    const K = 37;
    let prev = -Infinity;
    for (let k = 0; k <= K; k++) {
      const m = cosineMomentum(k, K, 0.99, 1);
      expect(m).toBeCloseTo(1 - (1 - 0.99) * (Math.cos((Math.PI * k) / K) + 1) / 2, 14);
      expect(m).toBeGreaterThanOrEqual(prev);
      prev = m;
    }
  });

  it('clamps steps outside [0, K] and rejects bad arguments', () => {
    expect(cosineMomentum(-5, 10)).toBe(0.99);
    expect(cosineMomentum(15, 10)).toBe(1);
    expect(() => cosineMomentum(0, 0)).toThrow(/totalSteps/);
    expect(() => cosineMomentum(0, 10, 0.9, 0.8)).toThrow(/base <= final/);
  });
});

describe('emaUpdate', () => {
  it('moves each target to tau * target + (1 - tau) * online, step after step (float64 reference)', () => {
    const rng = new Rng(2);
    const shape = [3, 2];
    const ref = Array.from({ length: 6 }, () => Math.fround(rng.normal()));
    const target = tf.variable(tf.tensor(ref, shape), false);
    for (let k = 0; k < 5; k++) {
      const onlineValues = Array.from({ length: 6 }, () => Math.fround(rng.normal()));
      const online = tf.tensor(onlineValues, shape);
      const tau = cosineMomentum(k, 5, 0.9, 1);
      emaUpdate([[online, target]], tau);
      for (let i = 0; i < ref.length; i++) ref[i] = tau * ref[i] + (1 - tau) * onlineValues[i];
      online.dispose();
    }
    const got = Array.from(target.dataSync());
    got.forEach((g, i) => expect(Math.abs(g - ref[i])).toBeLessThan(1e-6));
    target.dispose();
  });

  it('leaves targets unchanged at momentum 1, copies at 0, and leaks nothing', () => {
    const target = tf.variable(tf.tensor([1, 2, 3]), false);
    const online = tf.tensor([7, 8, 9]);
    const before = tf.memory().numTensors;
    emaUpdate([[online, target]], 1);
    expect(Array.from(target.dataSync())).toEqual([1, 2, 3]);
    emaUpdate([[online, target]], 0);
    expect(Array.from(target.dataSync())).toEqual([7, 8, 9]);
    expect(tf.memory().numTensors).toBe(before);
    const v = emaValue(tf.scalar(1), tf.scalar(3), 0.25);
    expect(v.dataSync()[0]).toBeCloseTo(2.5, 6);
  });

  it('rejects mismatched shapes and momenta outside [0, 1]', () => {
    const target = tf.variable(tf.zeros([2]), false);
    expect(() => emaUpdate([[tf.zeros([3]), target]], 0.5)).toThrow(/shape mismatch/);
    expect(() => emaUpdate([[tf.zeros([2]), target]], 1.5)).toThrow(/momentum/);
  });
});
