import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/engine/backend.ts';
import { batchNormTrain } from '../../src/engine/ops/batch-norm-train.ts';
import { Rng } from '../../src/util/rng.ts';

/** float64 reference of training-mode BN and its gradient for loss = sum(y * w). */
function reference(x: Float32Array, g: Float32Array, b: Float32Array, w: Float32Array, C: number, eps: number) {
  const n = x.length / C;
  const mean = new Float64Array(C);
  const vr = new Float64Array(C);
  for (let p = 0; p < x.length; p++) mean[p % C] += x[p] / n;
  for (let p = 0; p < x.length; p++) vr[p % C] += (x[p] - mean[p % C]) ** 2 / n;
  const y = new Float64Array(x.length);
  const inv = Array.from(vr, (v) => 1 / Math.sqrt(v + eps));
  for (let p = 0; p < x.length; p++) y[p] = g[p % C] * (x[p] - mean[p % C]) * inv[p % C] + b[p % C];
  // dy = w; dbeta = sum w; dgamma = sum w * xhat; dx by the closed form.
  const db = new Float64Array(C);
  const dg = new Float64Array(C);
  for (let p = 0; p < x.length; p++) {
    db[p % C] += w[p];
    dg[p % C] += w[p] * (x[p] - mean[p % C]) * inv[p % C];
  }
  const dx = new Float64Array(x.length);
  for (let p = 0; p < x.length; p++) {
    const c = p % C;
    const xhat = (x[p] - mean[c]) * inv[c];
    dx[p] = (g[c] * inv[c] / n) * (n * w[p] - db[c] - xhat * dg[c]);
  }
  return { y, mean, vr, dx, dg, db };
}

function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / den;
}

describe('fused batchNormTrain', () => {
  beforeAll(async () => {
    await initBackend('cpu');
    await initBackend('wasm');
  });

  for (const backend of ['wasm', 'cpu']) {
    for (const shape of [[4, 5, 5, 3], [2, 7, 6, 16], [9, 8]]) {
      it(`${backend} ${JSON.stringify(shape)} matches a float64 reference (values and gradients)`, async () => {
        await tf.setBackend(backend);
        const rng = new Rng(shape.length * 100 + shape[shape.length - 1]);
        const size = shape.reduce((a, c) => a * c, 1);
        const C = shape[shape.length - 1];
        const x = Float32Array.from({ length: size }, () => rng.normal(2, 3));
        const g = Float32Array.from({ length: C }, () => rng.normal(1, 0.5));
        const b = Float32Array.from({ length: C }, () => rng.normal());
        const w = Float32Array.from({ length: size }, () => rng.normal());
        const ref = reference(x, g, b, w, C, 1e-5);
        const before = tf.memory().numTensors;
        const out = tf.tidy(() => {
          const xt = tf.tensor(x, shape);
          const gt = tf.tensor1d(g);
          const bt = tf.tensor1d(b);
          const wt = tf.tensor(w, shape);
          const r = batchNormTrain(xt, gt, bt, 1e-5);
          const grads = tf.grads((a: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(batchNormTrain(a, gg as tf.Tensor1D, bb as tf.Tensor1D, 1e-5).y, wt)));
          const [dx, dg, db] = grads([xt, gt, bt]);
          return [r.y, r.mean, r.variance, dx, dg, db].map((t) => t.dataSync());
        });
        expect(tf.memory().numTensors).toBe(before);
        const [y, mean, variance, dx, dg, db] = out;
        expect(maxRel(y, ref.y)).toBeLessThan(1e-5);
        expect(maxRel(mean, ref.mean)).toBeLessThan(1e-5);
        expect(maxRel(variance, ref.vr)).toBeLessThan(1e-5);
        expect(maxRel(dx, ref.dx)).toBeLessThan(1e-4);
        expect(maxRel(dg, ref.dg)).toBeLessThan(1e-5);
        expect(maxRel(db, ref.db)).toBeLessThan(1e-5);
      });
    }
  }
});
