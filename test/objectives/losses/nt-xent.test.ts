import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src/engine/backend.ts';
import { groupedNtXentLoss, ntXentLoss, ntXentTop1 } from '../../../src/objectives/losses/nt-xent.ts';
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

/** Rows `[start, start + n)` of every view. */
const rowsOf = (views: number[][][], start: number, n: number) => views.map((v) => v.slice(start, start + n));

/** The float64 reference of groupedNtXentLoss: per group, own views plus `extraOf(g)` as negatives, weighted by rows. */
function groupedNaive(views: number[][][], groups: number[], t: number, extraOf: (g: number, start: number) => number[][]): number {
  const B = views[0].length;
  let total = 0;
  let start = 0;
  groups.forEach((n, g) => {
    total += (n / B) * ntXentNaive(rowsOf(views, start, n), t, undefined, extraOf(g, start));
    start += n;
  });
  return total;
}

/** Every view's rows outside `[start, start + n)`: the other groups' projections. */
const othersOf = (views: number[][][], start: number, n: number) => views.flatMap((v) => v.filter((_, b) => b < start || b >= start + n));

describe('ntXentLoss with extra negatives', () => {
  it.each([[2, 5, 3, 0.2], [3, 4, 6, 0.5], [2, 8, 1, 0.05]])('V=%i B=%i M=%i t=%f matches the float64 reference', (V, B, M, t) => {
    const rng = new Rng(500 + 13 * V + B + M);
    const views = Array.from({ length: V }, () => randomMatrix(rng, B, 6));
    const extra = randomMatrix(rng, M, 6);
    const tensors = toTensors(views);
    const ex = tf.tensor2d(extra);
    const got = ntXentLoss(tensors, t, undefined, ex).arraySync() as number;
    const want = ntXentNaive(views, t, undefined, extra);
    expect(Math.abs(got - want)).toBeLessThan(2e-5 * Math.max(1, Math.abs(want)));
    // More negatives: a larger loss than without them.
    expect(got).toBeGreaterThan((ntXentLoss(tensors, t).arraySync() as number) + 1e-4);
    tf.dispose([...tensors, ex]);
  });

  it('an empty set of extra negatives changes nothing; a wrong width is rejected', () => {
    const rng = new Rng(9);
    const tensors = toTensors([randomMatrix(rng, 4, 3), randomMatrix(rng, 4, 3)]);
    const none = tf.zeros([0, 3]) as tf.Tensor2D;
    expect(ntXentLoss(tensors, 0.2, undefined, none).arraySync()).toBeCloseTo(ntXentLoss(tensors, 0.2).arraySync() as number, 6);
    const wide = tf.zeros([2, 4]) as tf.Tensor2D;
    expect(() => ntXentLoss(tensors, 0.2, undefined, wide)).toThrow(/extra negatives must be \[M, 3\]/);
    tf.dispose([...tensors, none, wide]);
  });
});

describe('groupedNtXentLoss (several plates per batch)', () => {
  const V = 2;
  const groups = [3, 5, 4];
  const B = 12;
  const t = 0.3;
  const make = (seed: number) => Array.from({ length: V }, () => randomMatrix(new Rng(seed++), B, 5));

  it('shared is NT-Xent over the whole batch; detached and excluded match the float64 per-plate reference', () => {
    const views = make(41);
    const tensors = toTensors(views);
    const prev = randomMatrix(new Rng(3), 4, 5);
    const pt = tf.tensor2d(prev);
    const shared = groupedNtXentLoss(tensors, groups, t, { crossGroup: 'shared' }).arraySync() as number;
    expect(Math.abs(shared - ntXentNaive(views, t))).toBeLessThan(2e-5 * shared);
    const detached = groupedNtXentLoss(tensors, groups, t, { crossGroup: 'detached' }).arraySync() as number;
    const wantDetached = groupedNaive(views, groups, t, (g, s) => othersOf(views, s, groups[g]));
    expect(Math.abs(detached - wantDetached)).toBeLessThan(2e-5 * wantDetached);
    const excluded = groupedNtXentLoss(tensors, groups, t, { crossGroup: 'excluded' }).arraySync() as number;
    const wantExcluded = groupedNaive(views, groups, t, () => []);
    expect(Math.abs(excluded - wantExcluded)).toBeLessThan(2e-5 * wantExcluded);
    // The previous batch joins every plate's denominators.
    const withPrev = groupedNtXentLoss(tensors, groups, t, { crossGroup: 'detached', extraNegatives: pt }).arraySync() as number;
    const wantWithPrev = groupedNaive(views, groups, t, (g, s) => [...othersOf(views, s, groups[g]), ...prev]);
    expect(Math.abs(withPrev - wantWithPrev)).toBeLessThan(2e-5 * wantWithPrev);
    expect(withPrev).toBeGreaterThan(detached);
    // One group, or none: the plain loss whatever the mode.
    expect(groupedNtXentLoss(tensors, [B], t, { crossGroup: 'detached' }).arraySync()).toBeCloseTo(shared, 5);
    expect(groupedNtXentLoss(tensors, undefined, t, { crossGroup: 'excluded' }).arraySync()).toBeCloseTo(shared, 5);
    expect(() => groupedNtXentLoss(tensors, [3, 3], t, { crossGroup: 'detached' })).toThrow(/groups sum to 6, the views have 12 rows/);
    tf.dispose([...tensors, pt]);
  });

  it('detached: the gradient into a plate comes from its own anchors only (other plates are constants)', () => {
    const views = make(77);
    const tensors = toTensors(views);
    const grads = tf.grads((...vs: tf.Tensor[]) => groupedNtXentLoss(vs as tf.Tensor2D[], groups, t, { crossGroup: 'detached' }))(tensors);
    const got = grads.map((g) => g.arraySync() as number[][]);
    // Reference: perturbing a row of plate g moves only plate g's term; the other terms see the
    // unperturbed copy (stop-gradient), which is what a finite difference with `fixed` gives.
    const fixed = views.map((v) => v.map((r) => [...r]));
    const f = (xs: number[][][]) => {
      let total = 0;
      let start = 0;
      groups.forEach((n) => {
        total += (n / B) * ntXentNaive(rowsOf(xs, start, n), t, undefined, othersOf(fixed, start, n));
        start += n;
      });
      return total;
    };
    const want = numericGradient(f, views);
    expect(maxAbs(want)).toBeGreaterThan(1e-3);
    expect(maxAbsDiff(got, want)).toBeLessThan(1e-4 * Math.max(1, maxAbs(want)));
    // ...and differs from the shared gradient, where the other plates' anchors push on a plate too.
    const sharedGrads = tf.grads((...vs: tf.Tensor[]) => groupedNtXentLoss(vs as tf.Tensor2D[], groups, t, { crossGroup: 'shared' }))(tensors);
    expect(maxAbsDiff(sharedGrads.map((g) => g.arraySync() as number[][]), want)).toBeGreaterThan(1e-3);
    tf.dispose([...tensors, ...grads, ...sharedGrads]);
  });

  it('excluded: no gradient crosses plates (a plate alone gives the same gradient to its rows)', () => {
    const views = make(5);
    const tensors = toTensors(views);
    const grads = tf.grads((...vs: tf.Tensor[]) => groupedNtXentLoss(vs as tf.Tensor2D[], groups, t, { crossGroup: 'excluded' }))(tensors);
    const want = numericGradient((xs) => groupedNaive(xs, groups, t, () => []), views);
    expect(maxAbsDiff(grads.map((g) => g.arraySync() as number[][]), want)).toBeLessThan(1e-4 * Math.max(1, maxAbs(want)));
    tf.dispose([...tensors, ...grads]);
  });

  it('leaks no tensors', () => {
    const tensors = toTensors(make(8));
    const before = tf.memory().numTensors;
    for (const crossGroup of ['shared', 'detached', 'excluded'] as const) groupedNtXentLoss(tensors, groups, t, { crossGroup }).dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(tensors);
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
