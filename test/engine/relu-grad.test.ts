import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/engine/backend.ts';
import { Rng } from '../../src/util/rng.ts';

describe('one-pass ReLU gradient', () => {
  beforeAll(async () => {
    await initBackend('cpu');
    await initBackend('wasm');
  });

  for (const backend of ['wasm', 'cpu']) {
    for (const shape of [[2, 3, 3, 8], [7, 5]]) {
      it(`${backend} ${shape}: dx = x > 0 ? dy : 0, one kernel`, async () => {
        await tf.setBackend(backend);
        const rng = new Rng(shape.length);
        const n = shape.reduce((a, b) => a * b, 1);
        // Some exact zeros: the gradient there is 0 (as tfjs's step(x)).
        const x = Float32Array.from({ length: n }, (_, i) => (i % 5 === 0 ? 0 : rng.normal()));
        const w = Float32Array.from({ length: n }, () => rng.normal());
        const before = tf.memory().numTensors;
        let dx: Float32Array | undefined;
        const prof = await tf.profile(() => {
          dx = tf.tidy(() => {
            const [xt, wt] = [tf.tensor(x, shape), tf.tensor(w, shape)];
            return tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.relu(a), wt)))(xt).dataSync() as Float32Array;
          });
        });
        for (let i = 0; i < n; i++) expect(dx![i]).toBe(x[i] > 0 ? w[i] : 0);
        const names = prof.kernels.map((k) => k.name);
        expect(names).toContain('BenReluGrad');
        expect(names).not.toContain('Step');
        expect(tf.memory().numTensors).toBe(before);
      });
    }
  }
});
