import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src/engine/backend.ts';
import { ntXentLoss, ntXentTop1 } from '../../../src/objectives/losses/nt-xent.ts';
import { Rng } from '../../../src/util/rng.ts';
import { maxAbs, maxAbsDiff, ntXentNaive, numericGradient, randomMatrix } from '../reference.ts';

beforeAll(async () => {
  await initBackend('cpu'); // also registers tfjs-core's gradients
});

const toTensors = (views: number[][][]) => views.map((v) => tf.tensor2d(v));

describe('ntXentLoss against the float64 SimCLR pseudocode', () => {
  const cases: Array<{ V: number; B: number; D: number; t: number }> = [];
  for (const V of [2, 3, 4]) for (const B of [2, 5, 16]) for (const D of [2, 8, 33]) for (const t of [0.07, 0.2, 0.5, 1]) cases.push({ V, B, D, t });

  it.each(cases)('V=$V B=$B D=$D t=$t', ({ V, B, D, t }) => {
    const rng = new Rng(1000 * V + 100 * B + D);
    const views = Array.from({ length: V }, () => randomMatrix(rng, B, D));
    const tensors = toTensors(views);
    const got = ntXentLoss(tensors, t).arraySync() as number;
    const want = ntXentNaive(views, t);
    expect(Math.abs(got - want)).toBeLessThan(2e-5 * Math.max(1, Math.abs(want)));
    tf.dispose(tensors);
  });
});

describe('ntXentLoss with same-label negatives excluded', () => {
  it.each([[2, 6, 0.2], [3, 8, 0.5], [2, 16, 0.1]])('V=%i B=%i t=%f matches the float64 reference', (V, B, t) => {
    const rng = new Rng(77 * V + B);
    const views = Array.from({ length: V }, () => randomMatrix(rng, B, 7));
    const labels = Array.from({ length: B }, (_, b) => b % 3);
    const tensors = toTensors(views);
    const lab = tf.tensor1d(labels, 'int32');
    const got = ntXentLoss(tensors, t, lab).arraySync() as number;
    expect(Math.abs(got - ntXentNaive(views, t, labels))).toBeLessThan(2e-5 * Math.max(1, got));
    // Removing negatives can only lower the loss; all-distinct labels change nothing.
    expect(got).toBeLessThan(ntXentLoss(tensors, t).arraySync() as number);
    const distinct = tf.range(0, B, 1, 'int32') as tf.Tensor1D;
    expect(ntXentLoss(tensors, t, distinct).arraySync() as number).toBeCloseTo(ntXentLoss(tensors, t).arraySync() as number, 5);
    tf.dispose([...tensors, lab, distinct]);
  });

  it('rejects labels of the wrong length', () => {
    const views = toTensors([[[1, 0]], [[0, 1]]]);
    expect(() => ntXentLoss(views, 0.5, tf.tensor1d([0, 1], 'int32'))).toThrow(/labels must be \[1\]/);
  });
});

describe('ntXentLoss closed forms', () => {
  it('is log(N - 1) when every projection is the same vector', () => {
    for (const [V, B] of [[2, 4], [3, 5]]) {
      const vec = [0.3, -1.2, 2];
      const views = Array.from({ length: V }, () => Array.from({ length: B }, () => vec));
      const got = ntXentLoss(toTensors(views), 0.3).arraySync() as number;
      expect(got).toBeCloseTo(Math.log(V * B - 1), 5);
    }
  });

  it('is log((V-1) + (N-V) e^(-1/t)) for identical views of mutually orthogonal images', () => {
    for (const [V, B, t] of [[2, 6, 0.1], [2, 3, 1], [4, 5, 0.5]]) {
      const oneHot = (b: number) => Array.from({ length: 8 }, (_, d) => (d === b ? 2.5 : 0));
      const views = Array.from({ length: V }, () => Array.from({ length: B }, (_, b) => oneHot(b)));
      const N = V * B;
      const got = ntXentLoss(toTensors(views), t).arraySync() as number;
      expect(got).toBeCloseTo(Math.log(V - 1 + (N - V) * Math.exp(-1 / t)), 5);
      expect(ntXentTop1(toTensors(views)).arraySync()).toBe(1);
    }
  });

  it('is 0 for a single image seen twice (no negatives)', () => {
    const views = [[[1, 2, 3]], [[-1, 0, 4]]];
    expect(ntXentLoss(toTensors(views), 0.5).arraySync()).toBeCloseTo(0, 6);
  });

  it('does not depend on the scale of the projections', () => {
    const rng = new Rng(7);
    const views = [randomMatrix(rng, 6, 5), randomMatrix(rng, 6, 5)];
    const a = ntXentLoss(toTensors(views), 0.2).arraySync() as number;
    const b = ntXentLoss(toTensors(views.map((m) => m.map((r) => r.map((x) => 37 * x)))), 0.2).arraySync() as number;
    expect(b).toBeCloseTo(a, 5);
  });
});

describe('ntXentLoss gradient', () => {
  it.each([
    { V: 2, B: 4, D: 3, t: 0.2 },
    { V: 3, B: 3, D: 5, t: 0.5 },
    { V: 2, B: 6, D: 4, t: 0.07 },
  ])('matches finite differences of the float64 reference (V=$V B=$B D=$D t=$t)', ({ V, B, D, t }) => {
    const rng = new Rng(31 * V + B);
    const views = Array.from({ length: V }, () => randomMatrix(rng, B, D));
    const tensors = toTensors(views);
    const grads = tf.grads((...vs: tf.Tensor[]) => ntXentLoss(vs as tf.Tensor2D[], t))(tensors);
    const got = grads.map((g) => g.arraySync() as number[][]);
    const want = numericGradient((xs) => ntXentNaive(xs, t), views);
    expect(maxAbs(want)).toBeGreaterThan(1e-3); // a real gradient, not a trivially zero one
    expect(maxAbsDiff(got, want)).toBeLessThan(1e-4 * Math.max(1, maxAbs(want)));
    tf.dispose([...tensors, ...grads]);
  });
});

describe('ntXentLoss hygiene', () => {
  it('leaks no tensors', () => {
    const rng = new Rng(3);
    const tensors = toTensors([randomMatrix(rng, 4, 3), randomMatrix(rng, 4, 3)]);
    const before = tf.memory().numTensors;
    tf.dispose([ntXentLoss(tensors, 0.1), ntXentTop1(tensors)]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(tensors);
  });

  it('rejects fewer than two views, mismatched shapes and bad temperatures', () => {
    const a = tf.zeros([4, 3]) as tf.Tensor2D;
    const b = tf.zeros([5, 3]) as tf.Tensor2D;
    expect(() => ntXentLoss([a], 0.1)).toThrow(/at least 2 views/);
    expect(() => ntXentLoss([a, b], 0.1)).toThrow(/must all be \[4, 3\]/);
    expect(() => ntXentLoss([a, a], 0)).toThrow(/temperature/);
    expect(() => ntXentLoss([a, a], Number.NaN)).toThrow(/temperature/);
    tf.dispose([a, b]);
  });
});
