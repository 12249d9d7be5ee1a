import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/engine/backend.ts';
import { groupedNtXentLoss, ntXentLoss } from '../../src/objectives/losses/nt-xent.ts';
import { applyPerGroup, arrangeViews, splitViewArrangement, unarrangeViews } from '../../src/objectives/per-group.ts';
import { SimCLR, createSimclr } from '../../src/objectives/simclr.ts';
import { shiftBatch, viewBatch } from './batch.ts';
import { TINY_EMBEDDING_DIM, tinyBackbone } from './tiny-backbone.ts';
import { ntXentNaive } from './reference.ts';
import type { ObjectiveBatch } from '../../src/objectives/objective.ts';

beforeAll(async () => {
  await initBackend('cpu'); // also registers tfjs-core's gradients
});

function built(options: Record<string, unknown> = {}): SimCLR {
  const obj = createSimclr({ projectorHiddenDim: 8, projectorOutDim: 5, ...options });
  obj.build({ backbone: tinyBackbone(), embeddingDim: TINY_EMBEDDING_DIM, seed: 3 });
  return obj;
}

describe('SimCLR objective', () => {
  it('is NT-Xent of the projector applied to the backbone, all views in one batch', () => {
    for (const V of [2, 3]) {
      const obj = built({ views: V, temperature: 0.3 });
      const batch = viewBatch(1, 6, V);
      const got = obj.loss(batch).loss.dataSync()[0];
      const want = tf.tidy(() => {
        const h = obj['backbone']!.apply(tf.concat(batch.views, 0), { training: true }) as tf.Tensor;
        const z = obj.projectorModel.apply(h, { training: true }) as tf.Tensor2D;
        return ntXentLoss(tf.split(z, V, 0) as tf.Tensor2D[], 0.3).dataSync()[0];
      });
      expect(got).toBeCloseTo(want, 5);
      expect(obj.views).toBe(V);
    }
  });

  it('excludeSameLabelNegatives drops same-label negatives using the batch labels, and needs them', () => {
    const obj = built({ excludeSameLabelNegatives: true, temperature: 0.3 });
    const plain = built({ temperature: 0.3 });
    const batch = { ...viewBatch(4, 6, 2), labels: tf.tensor1d([0, 1, 0, 2, 1, 0], 'int32') };
    const want = tf.tidy(() => {
      const z = plain.projectorModel.apply(plain['backbone']!.apply(tf.concat(batch.views, 0), { training: true }) as tf.Tensor, { training: true }) as tf.Tensor2D;
      return ntXentLoss(tf.split(z, 2, 0) as tf.Tensor2D[], 0.3, batch.labels).dataSync()[0];
    });
    // Same seed, same weights: the option only changes the denominators.
    expect(obj.loss(batch).loss.dataSync()[0]).toBeCloseTo(want, 5);
    expect(obj.loss(batch).loss.dataSync()[0]).toBeLessThan(plain.loss(batch).loss.dataSync()[0]);
    expect(() => obj.loss(viewBatch(4, 6, 2))).toThrow(/excludeSameLabelNegatives needs labelled batches/);
  });

  it('is blind to a plate-wide offset (BN with batch statistics) but not to a per-image one', () => {
    const obj = built();
    const batch = viewBatch(2, 8, 2);
    const base = obj.loss(batch).loss.dataSync()[0];
    const plate = obj.loss(shiftBatch(batch, [3, -2])).loss.dataSync()[0];
    expect(plate).toBeCloseTo(base, 4);
    // The same offset on one image only is not a batch effect and must change the loss.
    const oneImage = tf.tidy(() => {
      const mask = tf.concat([tf.ones([1, 6, 6, 2]), tf.zeros([7, 6, 6, 2])], 0);
      return { ...batch, views: batch.views.map((v) => tf.add(v, tf.mul(mask, 3)) as tf.Tensor4D) };
    });
    expect(Math.abs(obj.loss(oneImage).loss.dataSync()[0] - base)).toBeGreaterThan(1e-3);
  });

  it('trains: finite non-zero gradients for every variable and a falling loss on a fixed batch', () => {
    const obj = built();
    const vars = obj.trainableVariables();
    // conv kernel, BN gamma/beta (backbone); Linear kernel, BN gamma/beta, Linear kernel+bias (projector).
    expect(vars.length).toBe(3 + 5);
    const batch = viewBatch(3, 8, 2);
    const opt = tf.train.adam(0.05);
    const losses: number[] = [];
    for (let step = 0; step < 15; step++) {
      const { value, grads } = tf.variableGrads(() => obj.loss(batch).loss, vars);
      if (step === 0) {
        expect(Object.keys(grads).length).toBe(vars.length);
        for (const g of Object.values(grads)) {
          const a = Array.from(g.dataSync());
          expect(a.every(Number.isFinite)).toBe(true);
          expect(a.some((x) => x !== 0)).toBe(true);
        }
      }
      opt.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
      losses.push(value.dataSync()[0]);
      tf.dispose([value, ...Object.values(grads)]);
    }
    expect(losses.at(-1)!).toBeLessThan(losses[0] - 0.05);
  });

  it('reports top1 and z_std metrics in range', () => {
    const obj = built();
    const { metrics } = obj.loss(viewBatch(4, 8, 2));
    expect(Object.keys(metrics).sort()).toEqual(['loss', 'top1', 'z_std']);
    const top1 = metrics.top1.dataSync()[0];
    expect(top1).toBeGreaterThanOrEqual(0);
    expect(top1).toBeLessThanOrEqual(1);
    expect(metrics.z_std.dataSync()[0]).toBeGreaterThan(0);
  });

  it('leaks no tensors, alone or under variableGrads', () => {
    const obj = built();
    const batch = viewBatch(5, 4, 2);
    tf.tidy(() => obj.loss(batch).loss); // builds lazily created state, if any
    const before = tf.memory().numTensors;
    tf.dispose(tf.tidy(() => { const o = obj.loss(batch); return [o.loss, ...Object.values(o.metrics)]; }));
    expect(tf.memory().numTensors).toBe(before);
    const { value, grads } = tf.variableGrads(() => obj.loss(batch).loss, obj.trainableVariables());
    tf.dispose([value, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('validates options and view counts with clear errors', () => {
    expect(createSimclr({}).options).toEqual({
      views: 2,
      temperature: 0.2,
      projectorHiddenDim: 2048,
      projectorOutDim: 128,
      excludeSameLabelNegatives: false,
      crossGroupNegatives: 'shared',
      previousBatchNegatives: false,
      splitViewGroups: false,
    });
    expect(() => createSimclr({ crossGroupNegatives: 'stopped' })).toThrow(/objective.options.crossGroupNegatives/);
    expect(() => createSimclr({ splitViewGroups: 'yes' })).toThrow(/objective.options.splitViewGroups/);
    expect(() => createSimclr({ temperature: -1 })).toThrow(/objective.options.temperature/);
    expect(() => createSimclr({ views: 1 })).toThrow(/objective.options.views/);
    expect(() => createSimclr({ temprature: 0.1 })).toThrow(/Invalid options for objective "simclr"/);
    expect(() => createSimclr({}).trainableVariables()).toThrow(/build\(\)/);
    const obj = built();
    expect(() => obj.loss(viewBatch(1, 4, 3))).toThrow(/expects 2 views/);
  });
});

/** Two plates of `n` images each (the second a shifted copy of other images), per-plate BN groups. */
function twoPlateBatch(n: number, offset: [number, number] = [0, 0]): ObjectiveBatch {
  const a = viewBatch(11, n, 2);
  const b = viewBatch(12, n, 2, offset);
  return { views: a.views.map((v, i) => tf.concat([v, b.views[i]], 0) as tf.Tensor4D), group: 'A+B', bnGroups: [n, n] };
}

/** The objective's projections of `batch`, with BN groups of `sizes` over the rows `arrangement` orders. */
function projections(obj: SimCLR, batch: ObjectiveBatch, arrangement: ReturnType<typeof splitViewArrangement>): tf.Tensor2D[] {
  const net = (x: tf.Tensor4D) => obj.projectorModel.apply(obj['backbone']!.apply(x, { training: true }) as tf.Tensor, { training: true }) as tf.Tensor2D;
  return unarrangeViews(applyPerGroup(net, arrangeViews(batch.views, arrangement), arrangement.groupSizes) as tf.Tensor2D, arrangement, 2);
}

describe('SimCLR training levers', () => {
  it('crossGroupNegatives: each plate normalised by itself, the loss is the per-plate NT-Xent of those projections', () => {
    const batch = twoPlateBatch(5);
    // Per-plate BN = both views of a plate in one group: the arrangement of whole plates.
    const perPlate = { blocks: [0, 1].flatMap((g) => [0, 1].map((view) => ({ view, start: 5 * g, size: 5 }))), groupSizes: [10, 10] };
    for (const mode of ['shared', 'detached', 'excluded'] as const) {
      const obj = built({ crossGroupNegatives: mode, temperature: 0.3 });
      const want = tf.tidy(() => groupedNtXentLoss(projections(obj, batch, perPlate), [5, 5], 0.3, { crossGroup: mode }).dataSync()[0]);
      expect(obj.loss(batch).loss.dataSync()[0]).toBeCloseTo(want, 5);
    }
    const losses = (['shared', 'detached', 'excluded'] as const).map((m) => built({ crossGroupNegatives: m, temperature: 0.3 }).loss(batch).loss.dataSync()[0]);
    expect(losses[1]).toBeCloseTo(losses[0], 5); // same value as shared (same negatives), only the gradient differs
    expect(losses[2]).toBeLessThan(losses[1] - 1e-3); // fewer negatives
  });

  it('crossGroupNegatives detached: no gradient through the other plate (each plate its own anchors)', () => {
    const obj = built({ crossGroupNegatives: 'detached' });
    const shared = built();
    const batch = twoPlateBatch(4);
    const g = (o: SimCLR) => {
      const { value, grads } = tf.variableGrads(() => o.loss(batch).loss, o.trainableVariables());
      const flat = Object.values(grads).flatMap((t) => Array.from(t.dataSync()));
      tf.dispose([value, ...Object.values(grads)]);
      return flat;
    };
    const a = g(obj);
    const b = g(shared);
    expect(a.every(Number.isFinite)).toBe(true);
    expect(a.some((x) => x !== 0)).toBe(true);
    expect(Math.max(...a.map((x, i) => Math.abs(x - b[i])))).toBeGreaterThan(1e-6);
  });

  it('splitViewGroups: BN groups of one plate each with the views of an image apart; a per-plate offset still cancels', () => {
    const obj = built({ splitViewGroups: true, temperature: 0.3 });
    const clean = twoPlateBatch(6);
    const want = tf.tidy(() => ntXentLoss(projections(obj, clean, splitViewArrangement([6, 6], 2)), 0.3).dataSync()[0]);
    const got = obj.loss(clean).loss.dataSync()[0];
    expect(got).toBeCloseTo(want, 5);
    // Not the same BN groups as whole-plate groups.
    expect(Math.abs(built({ temperature: 0.3 }).loss(clean).loss.dataSync()[0] - got)).toBeGreaterThan(1e-4);
    // Every group is rows of one plate: a plate-wide offset on the second plate is removed exactly.
    expect(obj.loss(twoPlateBatch(6, [3, -2])).loss.dataSync()[0]).toBeCloseTo(got, 4);
    // A one-plate batch (no bnGroups) is split in two halves the same way.
    const one = viewBatch(2, 8, 2);
    const wantOne = tf.tidy(() => ntXentLoss(projections(obj, one, splitViewArrangement([8], 2)), 0.3).dataSync()[0]);
    expect(obj.loss(one).loss.dataSync()[0]).toBeCloseTo(wantOne, 5);
  });

  it('previousBatchNegatives: after a step, the last step projections join the denominators', () => {
    const obj = built({ previousBatchNegatives: true, temperature: 0.3 });
    const plain = built({ temperature: 0.3 });
    const first = viewBatch(1, 6, 2);
    const second = viewBatch(2, 6, 2);
    // Before any step there is no queue: the plain loss.
    expect(obj.loss(first).loss.dataSync()[0]).toBeCloseTo(plain.loss(first).loss.dataSync()[0], 5);
    obj.afterStep();
    const whole = { blocks: [{ view: 0, start: 0, size: 6 }, { view: 1, start: 0, size: 6 }], groupSizes: [12] };
    const got = obj.loss(second).loss.dataSync()[0];
    // Reference in float64: the projections of both batches from the same (unchanged) weights.
    const z1 = tf.tidy(() => projections(plain, first, whole).map((z) => z.arraySync() as number[][]));
    const z2 = tf.tidy(() => projections(plain, second, whole).map((z) => z.arraySync() as number[][]));
    expect(Math.abs(got - ntXentNaive(z2, 0.3, undefined, [...z1[0], ...z1[1]]))).toBeLessThan(1e-4);
    expect(got).toBeGreaterThan(plain.loss(second).loss.dataSync()[0] + 1e-3);
    // A loss without an optimizer step (no afterStep) does not move the queue.
    expect(obj.loss(second).loss.dataSync()[0]).toBeCloseTo(got, 5);
  });

  it('previousBatchNegatives: checkpointed as extra state, restored exactly, no leaks, disposed', () => {
    const obj = built({ previousBatchNegatives: true });
    expect(obj.extraState()).toEqual({});
    const batch = viewBatch(3, 5, 2);
    const step = () => {
      const { value, grads } = tf.variableGrads(() => obj.loss(batch).loss, obj.trainableVariables());
      tf.dispose([value, ...Object.values(grads)]);
      obj.afterStep();
    };
    step();
    const before = tf.memory().numTensors;
    step();
    step();
    expect(tf.memory().numTensors).toBe(before); // the queue replaces itself, nothing piles up
    const state = obj.extraState();
    expect(Object.keys(state)).toEqual(['previous_negatives']);
    expect(state.previous_negatives.shape).toEqual([10, 5]);
    const other = built({ previousBatchNegatives: true });
    other.loadExtraState(state);
    const next = viewBatch(4, 5, 2);
    expect(other.loss(next).loss.dataSync()[0]).toBeCloseTo(obj.loss(next).loss.dataSync()[0], 5);
    expect(() => other.loadExtraState({ previous_negatives: tf.zeros([3, 7]) })).toThrow(/not \[M, 5\]/);
    tf.dispose(Object.values(state));
    const held = tf.memory().numTensors;
    obj.dispose();
    expect(tf.memory().numTensors).toBe(held - 2); // queue + this step's pending projections
  });
});
