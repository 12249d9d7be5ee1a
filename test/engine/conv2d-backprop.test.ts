import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/engine/backend.ts';
import { conv2DBackpropFilterConfig } from '../../src/engine/kernels/conv2d-backprop-filter.ts';
import { conv2DBackpropInputConfig } from '../../src/engine/kernels/conv2d-backprop-input.ts';
import { setEngineFlags } from '../../src/engine/flags.ts';
import { nativeFallbackOf } from '../../src/engine/kernels/native.ts';
import { Rng } from '../../src/util/rng.ts';

/** One conv configuration: input [b, h, w, cin], filter k x k -> cout. */
interface Case {
  b: number;
  h: number;
  w: number;
  cin: number;
  cout: number;
  kh: number;
  kw: number;
  stride: number | [number, number];
  pad: 'same' | 'valid';
}

function randn(rng: Rng, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}

/** dx and dW of sum(conv2d(x, W) * dy) on the current backend. */
function grads(c: Case, x: Float32Array, f: Float32Array, dy: Float32Array) {
  return tf.tidy(() => {
    const xt = tf.tensor4d(x, [c.b, c.h, c.w, c.cin]);
    const ft = tf.tensor4d(f, [c.kh, c.kw, c.cin, c.cout]);
    const y = tf.conv2d(xt, ft, c.stride, c.pad);
    const dyt = tf.tensor(dy, y.shape);
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad), dyt)));
    const [dx, df] = g([xt, ft]);
    return { dx: dx.dataSync() as Float32Array, df: df.dataSync() as Float32Array };
  });
}

/** max |a - b| / max |b|: relative error against the reference b. */
function relErr(a: Float32Array, b: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / den;
}

const fixed: Case[] = [
  { b: 1, h: 7, w: 7, cin: 3, cout: 4, kh: 3, kw: 3, stride: 1, pad: 'same' },
  { b: 2, h: 8, w: 8, cin: 4, cout: 5, kh: 3, kw: 3, stride: 2, pad: 'same' },
  { b: 3, h: 9, w: 11, cin: 5, cout: 6, kh: 3, kw: 3, stride: 2, pad: 'valid' },
  { b: 2, h: 8, w: 8, cin: 6, cout: 7, kh: 1, kw: 1, stride: 2, pad: 'same' },
  { b: 1, h: 9, w: 9, cin: 4, cout: 4, kh: 1, kw: 1, stride: 1, pad: 'valid' },
  { b: 2, h: 17, w: 15, cin: 5, cout: 8, kh: 7, kw: 7, stride: 2, pad: 'same' },
  { b: 2, h: 13, w: 13, cin: 3, cout: 4, kh: 7, kw: 7, stride: 1, pad: 'valid' },
  { b: 1, h: 10, w: 9, cin: 2, cout: 3, kh: 3, kw: 3, stride: [1, 2], pad: 'same' },
  { b: 2, h: 11, w: 10, cin: 3, cout: 2, kh: 3, kw: 1, stride: [2, 1], pad: 'valid' },
  { b: 4, h: 16, w: 16, cin: 16, cout: 32, kh: 3, kw: 3, stride: 2, pad: 'same' },
  // Strides above the kernel size (phases without taps stay zero), stride 3, and an input so
  // small that a phase has no rows.
  { b: 2, h: 9, w: 10, cin: 3, cout: 4, kh: 1, kw: 1, stride: 3, pad: 'same' },
  { b: 1, h: 11, w: 12, cin: 4, cout: 3, kh: 5, kw: 3, stride: 3, pad: 'same' },
  { b: 2, h: 10, w: 8, cin: 3, cout: 5, kh: 5, kw: 5, stride: [3, 2], pad: 'valid' },
  { b: 2, h: 1, w: 2, cin: 3, cout: 2, kh: 3, kw: 3, stride: 2, pad: 'same' },
  // Batch and channels multiples of 4: the SIMD transposes (filter, batch-to-channels, dy^T).
  { b: 4, h: 6, w: 5, cin: 8, cout: 12, kh: 3, kw: 3, stride: 1, pad: 'same' },
  { b: 8, h: 5, w: 7, cin: 4, cout: 8, kh: 3, kw: 3, stride: 1, pad: 'valid' },
  { b: 4, h: 9, w: 9, cin: 8, cout: 4, kh: 1, kw: 1, stride: 2, pad: 'same' },
  { b: 4, h: 11, w: 10, cin: 4, cout: 8, kh: 7, kw: 7, stride: 2, pad: 'same' },
];

function randomCases(n: number, rng: Rng): Case[] {
  const out: Case[] = [];
  while (out.length < n) {
    const k = [1, 3, 5, 7][rng.int(4)];
    const stride = 1 + rng.int(2);
    const pad = rng.next() < 0.5 ? 'same' : 'valid';
    const h = k + rng.int(12);
    const w = k + rng.int(12);
    out.push({ b: 1 + rng.int(3), h, w, cin: 1 + rng.int(6), cout: 1 + rng.int(6), kh: k, kw: k, stride, pad });
  }
  return out;
}

describe('wasm conv2d backprop kernels vs the cpu backend', () => {
  beforeAll(async () => {
    await initBackend('cpu');
    await initBackend('wasm');
  });

  it('our kernels are the ones registered for wasm (behind the native engine when it is built)', () => {
    // With the native engine the registered kernel is its wrapper, which falls back to ours.
    const registered = (name: string) => {
      const k = tf.getKernel(name, 'wasm')?.kernelFunc;
      return nativeFallbackOf(k) ?? k;
    };
    expect(registered('Conv2DBackpropFilter')).toBe(conv2DBackpropFilterConfig.kernelFunc);
    expect(registered('Conv2DBackpropInput')).toBe(conv2DBackpropInputConfig.kernelFunc);
  });

  const rng = new Rng(7);
  const cases = [...fixed, ...randomCases(20, rng)];
  for (const c of cases) {
    it(`b${c.b} ${c.h}x${c.w}x${c.cin} k${c.kh}x${c.kw}->${c.cout} s${c.stride} ${c.pad}`, async () => {
      const r = new Rng(c.h * 1000 + c.w * 10 + c.kh);
      const x = randn(r, c.b * c.h * c.w * c.cin);
      const f = randn(r, c.kh * c.kw * c.cin * c.cout);
      await tf.setBackend('cpu');
      const yShape = tf.tidy(() => tf.conv2d(tf.zeros([c.b, c.h, c.w, c.cin]) as tf.Tensor4D, tf.zeros([c.kh, c.kw, c.cin, c.cout]) as tf.Tensor4D, c.stride, c.pad).shape);
      const dy = randn(r, yShape.reduce((a, b) => a * b, 1));
      const ref = grads(c, x, f, dy);
      await tf.setBackend('wasm');
      const got = grads(c, x, f, dy);
      expect(relErr(got.dx, ref.dx)).toBeLessThan(1e-4);
      expect(relErr(got.df, ref.df)).toBeLessThan(1e-4);
      // The same gradients through the GEMM paths (col2im for dx, im2col for dW), forced.
      const previous = setEngineFlags({ gemmRatio: 0 });
      try {
        const viaGemm = grads(c, x, f, dy);
        expect(relErr(viaGemm.dx, ref.dx)).toBeLessThan(1e-4);
        expect(relErr(viaGemm.df, ref.df)).toBeLessThan(1e-4);
      } finally {
        setEngineFlags(previous);
      }
    });
  }
});
