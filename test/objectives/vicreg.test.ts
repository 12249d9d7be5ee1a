import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/engine/backend.ts';
import { objectives } from '../../src/objectives/index.ts';
import { VICReg, vicregLoss } from '../../src/objectives/vicreg.ts';
import { validateRecipe } from '../../src/recipe/load.ts';
import { Rng } from '../../src/util/rng.ts';
import { shiftBatch, viewBatch } from './batch.ts';
import { randomMatrix, vicregNaive } from './reference.ts';
import { TINY_EMBEDDING_DIM, tinyBackbone } from './tiny-backbone.ts';

beforeAll(async () => {
  await initBackend('cpu');
});

const WEIGHTS = { invariance: 25, variance: 25, covariance: 1, epsilon: 1e-4 };

describe('VICReg', () => {
  it('the loss equals a float64 loop of the paper, for collapsed, correlated and spread embeddings', () => {
    const rng = new Rng(7);
    const spread = randomMatrix(rng, 9, 5);
    const noisy = spread.map((r) => r.map((v) => Math.fround(v + 0.3 * rng.normal())));
    // Small and correlated: the variance hinge and the covariance term are both active.
    const correlated = spread.map((r) => r.map((v, j) => Math.fround(0.2 * r[0] + 0.05 * v * (j + 1))));
    for (const [a, b] of [[spread, noisy], [correlated, noisy], [correlated, correlated]] as const) {
      const got = tf.tidy(() => vicregLoss(tf.tensor2d(a), tf.tensor2d(b), WEIGHTS).loss.dataSync()[0]);
      const want = vicregNaive(a as number[][], b as number[][], WEIGHTS);
      expect(Math.abs(got - want)).toBeLessThan(1e-4 * Math.max(1, Math.abs(want)));
    }
  });

  it('is created by name with its options, trains both views through one BatchNorm batch, and is blind to a plate-wide offset', () => {
    const obj = objectives.get('vicreg')({ expanderDim: 6 }) as VICReg;
    expect(obj).toBeInstanceOf(VICReg);
    obj.build({ backbone: tinyBackbone(), embeddingDim: TINY_EMBEDDING_DIM, seed: 3 });
    const batch = viewBatch(2, 8, 2);
    const out = obj.loss(batch);
    const loss = out.loss.dataSync()[0];
    expect(Number.isFinite(loss)).toBe(true);
    expect(Object.keys(out.metrics).sort()).toEqual(['covariance', 'invariance', 'loss', 'variance', 'z_std']);
    // Training-mode BN over the whole batch removes a per-channel offset shared by every image.
    expect(obj.loss(shiftBatch(batch, [3, -2])).loss.dataSync()[0]).toBeCloseTo(loss, 3);
    const grads = tf.variableGrads(() => obj.loss(batch).loss, obj.trainableVariables());
    expect(Object.values(grads.grads).some((g) => tf.any(tf.notEqual(g, 0)).dataSync()[0] === 1)).toBe(true);
  });

  it('a recipe names it with no other change: the schema takes its name from the registry', () => {
    const r = validateRecipe({ name: 'v', objective: { name: 'vicreg', options: { expanderDim: 32 } } });
    expect(r.objective.name).toBe('vicreg');
    expect(() => validateRecipe({ name: 'v', objective: { name: 'vicreg', options: { expanderDim: -1 } } })).toThrow(/objective\.options/);
  });
});
