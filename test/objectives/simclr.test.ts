import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/engine/backend.ts';
import { ntXentLoss } from '../../src/objectives/losses/nt-xent.ts';
import { SimCLR, createSimclr } from '../../src/objectives/simclr.ts';
import { shiftBatch, viewBatch } from './batch.ts';
import { TINY_EMBEDDING_DIM, tinyBackbone } from './tiny-backbone.ts';

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
    expect(createSimclr({}).options).toEqual({ views: 2, temperature: 0.2, projectorHiddenDim: 2048, projectorOutDim: 128, excludeSameLabelNegatives: false });
    expect(() => createSimclr({ temperature: -1 })).toThrow(/objective.options.temperature/);
    expect(() => createSimclr({ views: 1 })).toThrow(/objective.options.views/);
    expect(() => createSimclr({ temprature: 0.1 })).toThrow(/Invalid options for objective "simclr"/);
    expect(() => createSimclr({}).trainableVariables()).toThrow(/build\(\)/);
    const obj = built();
    expect(() => obj.loss(viewBatch(1, 4, 3))).toThrow(/expects 2 views/);
  });
});
