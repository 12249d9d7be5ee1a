import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../../src/engine/backend.ts';
import { LazyConv2D, lazyConv2d } from '../../src/models/lazy-conv2d.ts';
import { Rng } from '../../src/util/rng.ts';

function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / den;
}

/** conv (lazy or plain) -> sum(y * w) loss; gradients w.r.t. the kernel and, if asked, the input. */
function run(lazy: boolean, x: tf.Tensor4D, kernel: tf.Tensor4D, w: tf.Tensor, strides: number, inputGrad: boolean) {
  const args = { filters: kernel.shape[3], kernelSize: kernel.shape[0], strides, padding: 'same' as const, useBias: false };
  const layer = lazy ? lazyConv2d(args) : tfl.layers.conv2d(args);
  layer.apply(tfl.input({ shape: x.shape.slice(1) }));
  layer.setWeights([kernel]);
  const kv = (layer.trainableWeights[0] as unknown as { val: tf.Variable }).val;
  const xv = tf.variable(x, inputGrad);
  const vars = inputGrad ? [kv, xv] : [kv];
  let out: { value: number; grads: Float32Array[]; backpropInput: number } | undefined;
  const prof = tf.profile(() => {
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(layer.apply(xv, { training: true }) as tf.Tensor, w)) as tf.Scalar, vars);
    out = { value: value.dataSync()[0], grads: vars.map((v) => grads[v.name].dataSync() as Float32Array), backpropInput: 0 };
    tf.dispose([value, ...Object.values(grads)]);
  });
  return prof.then((p) => {
    out!.backpropInput = p.kernels.filter((k) => k.name === 'Conv2DBackpropInput').length;
    xv.dispose();
    layer.dispose();
    return out!;
  });
}

describe('LazyConv2D', () => {
  beforeAll(async () => {
    await initBackend('cpu');
    await initBackend('wasm');
  });

  for (const backend of ['wasm', 'cpu']) {
    it(`${backend}: same output and kernel gradient as Conv2D, without the images' gradient`, async () => {
      await tf.setBackend(backend);
      const rng = new Rng(7);
      const x = tf.tensor4d(Float32Array.from({ length: 2 * 9 * 9 * 5 }, () => rng.normal()), [2, 9, 9, 5]);
      const kernel = tf.tensor4d(Float32Array.from({ length: 7 * 7 * 5 * 4 }, () => rng.normal(0, 0.1)), [7, 7, 5, 4]);
      const w = tf.tensor4d(Float32Array.from({ length: 2 * 5 * 5 * 4 }, () => rng.normal()), [2, 5, 5, 4]);
      const before = tf.memory().numTensors;
      const ref = await run(false, x, kernel, w, 2, false);
      const got = await run(true, x, kernel, w, 2, false);
      expect(Math.abs(got.value - ref.value)).toBeLessThan(1e-4 * Math.max(1, Math.abs(ref.value)));
      expect(maxRel(got.grads[0], ref.grads[0])).toBeLessThan(1e-5);
      expect(ref.backpropInput).toBe(1); // what the fused conv's gradient wastes
      expect(got.backpropInput).toBe(0);
      // When the input does need a gradient it is computed, and equals Conv2D's.
      const refX = await run(false, x, kernel, w, 2, true);
      const gotX = await run(true, x, kernel, w, 2, true);
      expect(gotX.backpropInput).toBe(1);
      expect(maxRel(gotX.grads[1], refX.grads[1])).toBeLessThan(1e-5);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([x, kernel, w]);
    });
  }

  it('serializes as a plain Conv2D', () => {
    const l = lazyConv2d({ filters: 3, kernelSize: 3, useBias: false });
    expect(l).toBeInstanceOf(LazyConv2D);
    expect(l.getClassName()).toBe('Conv2D');
    expect(l.getConfig()).toEqual(tfl.layers.conv2d({ filters: 3, kernelSize: 3, useBias: false, name: l.name }).getConfig());
  });
});
