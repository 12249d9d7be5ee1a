import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/engine/backend.ts';
import { backbones } from '../../src/models/index.ts';
import { seedSequence } from '../../src/models/init-seeds.ts';

beforeAll(async () => {
  await initBackend('cpu');
});

describe('backbone initialisation seeds', () => {
  it('never hands 0 (tfjs reads it as "no seed") and is deterministic', () => {
    for (const s of [0, 1, 7, -3]) {
      const a = seedSequence(s), b = seedSequence(s);
      const xs = Array.from({ length: 50 }, () => a());
      expect(xs).not.toContain(0);
      expect(Array.from({ length: 50 }, () => b())).toEqual(xs);
    }
  });

  for (const name of ['small-convnet', 'resnet-small']) {
    it(`${name} built twice with seed 0 has identical weights, and seed 1 differs`, () => {
      const build = (seed: number) => backbones.get(name).build({ channels: 3, size: 16, seed });
      const [a, b, c] = [build(0), build(0), build(1)];
      const wa = a.getWeights(), wb = b.getWeights(), wc = c.getWeights();
      let maxDiffSame = 0;
      let firstDiffOther = 0;
      for (let i = 0; i < wa.length; i++) {
        maxDiffSame = Math.max(maxDiffSame, tf.max(tf.abs(tf.sub(wa[i], wb[i]))).dataSync()[0]);
      }
      firstDiffOther = tf.max(tf.abs(tf.sub(wa[0], wc[0]))).dataSync()[0];
      expect(maxDiffSame).toBe(0);
      expect(firstDiffOther).toBeGreaterThan(0);
      for (const m of [a, b, c]) m.dispose();
    });
  }
});
