import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { crossEntropy, evaluateSupervised, Supervised, createSupervised } from '../../src/objectives/supervised.ts';
import { objectives } from '../../src/objectives/index.ts';
import { setNormalization } from '../../src/models/ben-batchnorm.ts';
import { Rng } from '../../src/util/rng.ts';
import { isUserError } from '../../src/util/errors.ts';
import { tinyBackbone } from '../training/helpers.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('crossEntropy', () => {
  it('matches a float64 log-sum-exp loop, with and without label smoothing', () => {
    const rng = new Rng(3);
    const b = 5;
    const k = 4;
    const logits = Array.from({ length: b * k }, () => rng.normal(0, 5));
    const labels = Array.from({ length: b }, () => rng.int(k));
    for (const eps of [0, 0.1]) {
      let ref = 0;
      for (let i = 0; i < b; i++) {
        const row = logits.slice(i * k, i * k + k);
        const m = Math.max(...row);
        const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
        for (let j = 0; j < k; j++) {
          const t = (j === labels[i] ? 1 - eps : 0) + eps / k;
          ref -= (t * (row[j] - lse)) / b;
        }
      }
      const got = tf.tidy(() => crossEntropy(tf.tensor2d(logits, [b, k]), tf.oneHot(tf.tensor1d(labels, 'int32'), k) as tf.Tensor2D, eps).dataSync()[0]);
      expect(Math.abs(got - ref)).toBeLessThan(1e-5 * Math.abs(ref));
    }
  });
});

describe('Supervised objective', () => {
  it('is registered and validates its options', () => {
    expect(objectives.get('supervised')({})).toBeInstanceOf(Supervised);
    const err = (() => {
      try {
        createSupervised({ labelSmoothing: 2 });
      } catch (e) {
        return e;
      }
    })();
    expect(isUserError(err)).toBe(true);
    expect((err as Error).message).toMatch(/objective\.options\.labelSmoothing/);
  });

  it('evaluateSupervised counts correct predictions per mode (batch/plate agree on whole-plate batches)', async () => {
    const backbone = tinyBackbone(5);
    const obj = new Supervised();
    obj.build({ backbone, embeddingDim: 8, numClasses: 3, seed: 1 });
    const rng = new Rng(4);
    const plateData = [0, 1].map(() => ({ x: Float32Array.from({ length: 7 * 128 }, () => rng.normal(2, 3)), y: Int32Array.from({ length: 7 }, () => rng.int(3)) }));
    const plates = (split: boolean) =>
      plateData.map((p, i) => ({
        key: `p${i}`,
        batches: () => {
          const x = tf.tensor4d(p.x, [7, 8, 8, 2]);
          if (!split) return [{ images: x, labels: p.y }];
          const parts = [{ images: tf.slice(x, 0, 3) as tf.Tensor4D, labels: p.y.slice(0, 3) }, { images: tf.slice(x, 3, 4) as tf.Tensor4D, labels: p.y.slice(3) }];
          x.dispose();
          return parts;
        },
      }));
    // Manual reference in batch mode.
    setNormalization(backbone, 'batch');
    let correct = 0;
    for (const p of plateData) {
      const pred = tf.tidy(() => tf.argMax(obj.logits(tf.tensor4d(p.x, [7, 8, 8, 2]), false), 1).dataSync());
      p.y.forEach((y, i) => (correct += pred[i] === y ? 1 : 0));
    }
    const before = tf.memory().numTensors;
    const batch = await evaluateSupervised(obj, plates(false), 'batch');
    expect(batch.accuracy).toBeCloseTo(correct / 14, 10);
    expect(batch.images).toBe(14);
    // Plate statistics from split batches equal whole-plate batch statistics.
    const plate = await evaluateSupervised(obj, plates(true), 'plate');
    expect(plate.accuracy).toBeCloseTo(batch.accuracy, 10);
    expect(Math.abs(plate.loss - batch.loss)).toBeLessThan(1e-4);
    expect(tf.memory().numTensors).toBe(before);
  });
});
