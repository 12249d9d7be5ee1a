import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/engine/backend.ts';
import { adamUpdate, adamUpdateSupported } from '../../src/engine/ops/adam-update.ts';
import { Rng } from '../../src/util/rng.ts';

/** float64 AdamW step t from the paper's rule: m_hat / (sqrt(v_hat) + eps) + wd * p. */
function reference(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, t: number, lr: number, wd: number) {
  const [b1, b2, eps] = [0.9, 0.999, 1e-8];
  const m1 = Float64Array.from(m, (mi, i) => b1 * mi + (1 - b1) * g[i]);
  const v1 = Float64Array.from(v, (vi, i) => b2 * vi + (1 - b2) * g[i] * g[i]);
  const p1 = Float64Array.from(p, (pi, i) => {
    const mh = m1[i] / (1 - b1 ** t);
    const vh = v1[i] / (1 - b2 ** t);
    return pi - lr * (mh / (Math.sqrt(vh) + eps) + wd * pi);
  });
  return [p1, m1, v1];
}

describe('fused AdamW update kernel', () => {
  beforeAll(async () => {
    await initBackend('cpu');
    await initBackend('wasm');
  });

  for (const backend of ['wasm', 'cpu']) {
    for (const [shape, t, wd] of [[[3, 3, 4, 5], 1, 0.05], [[7], 9, 0]] as const) {
      it(`${backend}: shape ${shape}, step ${t}, decay ${wd} matches the float64 rule`, async () => {
        await tf.setBackend(backend);
        expect(adamUpdateSupported()).toBe(true);
        const rng = new Rng(t);
        const n = shape.reduce((a, b) => a * b, 1);
        const p = Float32Array.from({ length: n }, () => rng.normal());
        const g = Float32Array.from({ length: n }, () => rng.normal());
        const m = Float32Array.from({ length: n }, () => rng.normal(0, 0.1));
        const v = Float32Array.from({ length: n }, () => rng.uniform(0, 0.01));
        const lr = 0.03;
        const before = tf.memory().numTensors;
        const out = tf.tidy(() => {
          const [pt, gt, mt, vt] = [p, g, m, v].map((a) => tf.tensor(a, [...shape]));
          return adamUpdate(pt, gt, mt, vt, {
            beta1: 0.9,
            beta2: 0.999,
            stepSize: (lr * Math.sqrt(1 - 0.999 ** t)) / (1 - 0.9 ** t),
            epsHat: 1e-8 * Math.sqrt(1 - 0.999 ** t),
            decay: lr * wd,
          });
        });
        const want = reference(p, g, m, v, t, lr, wd);
        out.forEach((o, k) => {
          expect(o.shape).toEqual([...shape]);
          const got = o.dataSync();
          for (let i = 0; i < n; i++) expect(Math.abs(got[i] - want[k][i])).toBeLessThan(2e-6 * Math.max(1, Math.abs(want[k][i])));
        });
        tf.dispose(out);
        expect(tf.memory().numTensors).toBe(before);
      });
    }
  }
});
