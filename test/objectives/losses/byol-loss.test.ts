import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src/engine/backend.ts';
import { byolLoss, symmetricByolLoss } from '../../../src/objectives/losses/byol-loss.ts';
import { Rng } from '../../../src/util/rng.ts';
import { byolNaive, maxAbs, maxAbsDiff, numericGradient, randomMatrix, symmetricByolNaive } from '../reference.ts';

beforeAll(async () => {
  await initBackend('cpu'); // also registers tfjs-core's gradients
});

const t2 = (m: number[][]) => tf.tensor2d(m);

describe('byolLoss against the float64 normalized-MSE of the paper', () => {
  const cases: Array<{ B: number; D: number }> = [];
  for (const B of [1, 3, 16]) for (const D of [2, 7, 64]) cases.push({ B, D });
  it.each(cases)('B=$B D=$D', ({ B, D }) => {
    const rng = new Rng(10 * B + D);
    const p = randomMatrix(rng, B, D);
    const z = randomMatrix(rng, B, D);
    expect(byolLoss(t2(p), t2(z)).arraySync()).toBeCloseTo(byolNaive(p, z), 5);
  });

  it.each([2, 3, 4])('symmetrized over %i views', (V) => {
    const rng = new Rng(V);
    const p = Array.from({ length: V }, () => randomMatrix(rng, 5, 6));
    const z = Array.from({ length: V }, () => randomMatrix(rng, 5, 6));
    const got = symmetricByolLoss(p.map(t2), z.map(t2)).arraySync() as number;
    expect(got).toBeCloseTo(symmetricByolNaive(p, z), 4);
  });
});

describe('byolLoss closed forms', () => {
  it('is 0 for aligned, 2 for orthogonal and 4 for opposite vectors, whatever their norms', () => {
    const p = [[1, 0, 0], [0, 3, 0]];
    expect(byolLoss(t2(p), t2([[5, 0, 0], [0, 0.1, 0]])).arraySync()).toBeCloseTo(0, 6);
    expect(byolLoss(t2(p), t2([[0, 2, 0], [0, 0, 7]])).arraySync()).toBeCloseTo(2, 6);
    expect(byolLoss(t2(p), t2([[-2, 0, 0], [0, -1, 0]])).arraySync()).toBeCloseTo(4, 6);
  });

  it('for two views is L(p1, z2) + L(p2, z1) (the paper\'s L + L~)', () => {
    const rng = new Rng(5);
    const [p1, p2, z1, z2] = [0, 1, 2, 3].map(() => t2(randomMatrix(rng, 4, 3)));
    const sym = symmetricByolLoss([p1, p2], [z1, z2]).arraySync() as number;
    const sum = (byolLoss(p1, z2).arraySync() as number) + (byolLoss(p2, z1).arraySync() as number);
    expect(sym).toBeCloseTo(sum, 6);
  });
});

describe('byolLoss gradient', () => {
  it('matches finite differences of the float64 reference for predictions and targets', () => {
    const rng = new Rng(11);
    const pz = [randomMatrix(rng, 5, 4), randomMatrix(rng, 5, 4)];
    const grads = tf.grads((p: tf.Tensor, z: tf.Tensor) => byolLoss(p as tf.Tensor2D, z as tf.Tensor2D))(pz.map(t2));
    const got = grads.map((g) => g.arraySync() as number[][]);
    const want = numericGradient((xs) => byolNaive(xs[0], xs[1]), pz);
    expect(maxAbs(want)).toBeGreaterThan(1e-3);
    expect(maxAbsDiff(got, want)).toBeLessThan(1e-4 * Math.max(1, maxAbs(want)));
  });

  it('matches finite differences for the symmetrized loss over 3 views (predictions only)', () => {
    const rng = new Rng(12);
    const p = Array.from({ length: 3 }, () => randomMatrix(rng, 4, 3));
    const z = Array.from({ length: 3 }, () => randomMatrix(rng, 4, 3));
    const zT = z.map(t2);
    const grads = tf.grads((...ps: tf.Tensor[]) => symmetricByolLoss(ps as tf.Tensor2D[], zT))(p.map(t2));
    const got = grads.map((g) => g.arraySync() as number[][]);
    const want = numericGradient((xs) => symmetricByolNaive(xs, z), p);
    expect(maxAbsDiff(got, want)).toBeLessThan(1e-4 * Math.max(1, maxAbs(want)));
  });
});

describe('byolLoss hygiene', () => {
  it('leaks no tensors', () => {
    const rng = new Rng(3);
    const [a, b, c, d] = [0, 1, 2, 3].map(() => t2(randomMatrix(rng, 4, 3)));
    const before = tf.memory().numTensors;
    tf.dispose([byolLoss(a, b), symmetricByolLoss([a, b], [c, d])]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects mismatched shapes and view counts', () => {
    const a = tf.zeros([4, 3]) as tf.Tensor2D;
    const b = tf.zeros([4, 2]) as tf.Tensor2D;
    expect(() => byolLoss(a, b)).toThrow(/same \[B, D\] shape/);
    expect(() => symmetricByolLoss([a], [a])).toThrow(/>= 2/);
    expect(() => symmetricByolLoss([a, a], [a])).toThrow(/>= 2/);
  });
});
