import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/engine/backend.ts';
import { nativeFallbackOf } from '../../src/engine/kernels/native.ts';
import { ADAM_UPDATE, registerAdamUpdateKernels } from '../../src/engine/kernels/adam-update.ts';
import { BN_TRAIN, BN_TRAIN_GRAD, registerBatchNormTrainKernels } from '../../src/engine/kernels/batch-norm-train.ts';
import { RELU_GRAD } from '../../src/engine/kernels/relu-grad.ts';
import { loadNative } from '../../src/engine/native.ts';
import { Rng } from '../../src/util/rng.ts';

/**
 * The training kernels the native engine takes over (BatchNorm training forward and backward,
 * AdamW, ReLU and max-pool gradients) on the active engine against the cpu backend, at sizes
 * large enough for the native kernels' threaded paths (and one small enough for the serial one).
 * On wasm alone this checks the wasm kernels the same way.
 */

const randn = (rng: Rng, n: number, mean = 0, sd = 1) => Float32Array.from({ length: n }, () => rng.normal(mean, sd));

function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / den;
}

/** `f` on wasm (native kernels when built) and on cpu, same inputs. */
async function onBoth(f: () => tf.Tensor[]): Promise<{ got: Float32Array[]; ref: Float32Array[] }> {
  const run = async (b: string) => {
    await tf.setBackend(b);
    return tf.tidy(f).map((t) => {
      const d = t.dataSync() as Float32Array;
      t.dispose();
      return d;
    });
  };
  const got = await run('wasm');
  const ref = await run('cpu');
  await tf.setBackend('wasm');
  return { got, ref };
}

describe('training kernels on the active engine vs cpu', () => {
  beforeAll(async () => {
    await initBackend('cpu');
    await initBackend('wasm');
    // Registered on first use on wasm alone (the native engine registers them to wrap them).
    registerBatchNormTrainKernels();
    registerAdamUpdateKernels();
  });

  it('runs them natively exactly when the native engine is built', () => {
    const native = !!loadNative();
    for (const name of [BN_TRAIN, BN_TRAIN_GRAD, ADAM_UPDATE, RELU_GRAD, 'MaxPoolGrad']) {
      expect(nativeFallbackOf(tf.getKernel(name, 'wasm')?.kernelFunc) !== undefined, name).toBe(native);
    }
  });

  for (const shape of [[8, 16, 16, 64], [3, 5, 7, 6], [1000, 40]]) {
    it(`BatchNorm training forward and backward ${JSON.stringify(shape)}`, async () => {
      const rng = new Rng(shape[0] + shape[shape.length - 1]);
      const n = shape.reduce((a, c) => a * c, 1);
      const C = shape[shape.length - 1];
      const [x, dy, g, b] = [randn(rng, n, 3, 2), randn(rng, n), randn(rng, C, 1, 0.5), randn(rng, C)];
      const { got, ref } = await onBoth(() => {
        const [y, mean, variance, invStd] = tf.engine().runKernel(BN_TRAIN, { x: tf.tensor(x, shape), gamma: tf.tensor1d(g), beta: tf.tensor1d(b) }, { epsilon: 1e-5 }) as tf.Tensor[];
        const grads = tf.engine().runKernel(BN_TRAIN_GRAD, { dy: tf.tensor(dy, shape), x: tf.tensor(x, shape), mean, invStd, gamma: tf.tensor1d(g) }, {}) as tf.Tensor[];
        return [y, mean, variance, invStd, ...grads];
      });
      const what = ['y', 'mean', 'variance', 'invStd', 'dx', 'dgamma', 'dbeta'];
      for (let i = 0; i < what.length; i++) expect(maxRel(got[i], ref[i]), what[i]).toBeLessThan(i === 4 ? 1e-4 : 1e-5);
    });
  }

  for (const n of [50000, 37]) {
    it(`AdamW update of ${n} values`, async () => {
      const rng = new Rng(n);
      const [p, g, m] = [randn(rng, n), randn(rng, n), randn(rng, n, 0, 0.1)];
      const v = Float32Array.from(randn(rng, n), (t) => t * t * 0.01);
      const attrs = { beta1: 0.9, beta2: 0.999, stepSize: 1e-3, epsHat: 1e-8, decay: 1e-5 };
      const { got, ref } = await onBoth(
        () => tf.engine().runKernel(ADAM_UPDATE, { p: tf.tensor1d(p), g: tf.tensor1d(g), m: tf.tensor1d(m), v: tf.tensor1d(v) }, attrs as never) as tf.Tensor[],
      );
      for (let i = 0; i < 3; i++) expect(maxRel(got[i], ref[i]), ['p', 'm', 'v'][i]).toBeLessThan(1e-6);
    });
  }

  it('ReLU gradient (large) and max-pool gradient 3x3/2 same and 2x2/2 valid', async () => {
    const rng = new Rng(3);
    const shape: [number, number, number, number] = [4, 17, 16, 24];
    const n = shape.reduce((a, c) => a * c, 1);
    const [x, w] = [randn(rng, n), randn(rng, n)];
    const { got, ref } = await onBoth(() => {
      const xt = tf.tensor4d(x, shape);
      const relu = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.relu(a), tf.tensor4d(w, shape))))(xt);
      const pools = (['same', 'valid'] as const).map((pad, i) => {
        const k = i === 0 ? 3 : 2;
        return tf.grad((a: tf.Tensor) => {
          const y = tf.maxPool(a as tf.Tensor4D, k, 2, pad);
          return tf.sum(tf.mul(y, tf.tensor(randn(new Rng(7 + i), y.size), y.shape)));
        })(xt);
      });
      return [relu, ...pools];
    });
    for (let i = 0; i < 3; i++) expect(maxRel(got[i], ref[i]), ['relu', 'pool same', 'pool valid'][i]).toBeLessThan(1e-6);
  });
});
