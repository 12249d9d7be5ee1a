import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, type BackendInfo } from '../../src/engine/backend.ts';
import { nativeFallbackOf } from '../../src/engine/kernels/native.ts';
import { loadNative } from '../../src/engine/native.ts';
import { Rng } from '../../src/util/rng.ts';

/**
 * The kernels the native engine replaces (fused conv forward with bias and ReLU, dilated conv,
 * both conv backprops through the fused op, matmul with transposes and broadcast batches), as
 * values and gradients on the active engine (native when built, else wasm) against `cpu`.
 */

function randn(rng: Rng, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal());
}

/** max |a - b| / max |b|. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / den;
}

/** Runs `f` on wasm and on cpu with the same inputs; returns both results' data. */
async function onBoth(f: () => tf.Tensor[]): Promise<{ got: Float32Array[]; ref: Float32Array[] }> {
  await tf.setBackend('wasm');
  const got = tf.tidy(f).map((t) => {
    const d = t.dataSync() as Float32Array;
    t.dispose();
    return d;
  });
  await tf.setBackend('cpu');
  const ref = tf.tidy(f).map((t) => {
    const d = t.dataSync() as Float32Array;
    t.dispose();
    return d;
  });
  await tf.setBackend('wasm');
  return { got, ref };
}

interface ConvCase {
  b: number;
  h: number;
  w: number;
  cin: number;
  cout: number;
  k: number;
  stride: number;
  pad: 'same' | 'valid';
  dilation?: number;
  act: 'linear' | 'relu';
  bias: boolean;
}

const convCases: ConvCase[] = [
  { b: 2, h: 9, w: 11, cin: 5, cout: 7, k: 3, stride: 2, pad: 'valid', act: 'relu', bias: true },
  { b: 3, h: 8, w: 8, cin: 4, cout: 6, k: 3, stride: 1, pad: 'same', act: 'linear', bias: true },
  { b: 2, h: 16, w: 16, cin: 5, cout: 8, k: 7, stride: 2, pad: 'same', act: 'relu', bias: false },
  { b: 2, h: 8, w: 8, cin: 16, cout: 32, k: 1, stride: 2, pad: 'same', act: 'linear', bias: false },
  { b: 1, h: 10, w: 9, cin: 3, cout: 4, k: 3, stride: 1, pad: 'same', dilation: 2, act: 'relu', bias: true },
  { b: 4, h: 4, w: 4, cin: 32, cout: 32, k: 3, stride: 1, pad: 'same', act: 'linear', bias: false },
];

let info: BackendInfo;

describe(`conv and matmul kernels on the active engine vs cpu`, () => {
  beforeAll(async () => {
    await initBackend('cpu');
    info = await initBackend('wasm');
  });

  it('uses the native engine exactly when it is built and loads', () => {
    const addon = loadNative();
    expect(!!info.native).toBe(!!addon);
    const fused = tf.getKernel('FusedConv2D', 'wasm')?.kernelFunc;
    expect(nativeFallbackOf(fused) !== undefined).toBe(!!addon);
    if (info.native) {
      expect(info.native.library).toBe('oneDNN');
      expect(info.native.version).toMatch(/^\d+\.\d+\.\d+$/);
      expect(info.native.threads).toBeGreaterThanOrEqual(1);
      expect(info.native.kernels).toEqual(expect.arrayContaining(['FusedConv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter', 'BatchMatMul']));
    }
  });

  for (const c of convCases) {
    const name = `fused conv ${c.k}x${c.k}/${c.stride} ${c.pad}${c.dilation ? ` dilation ${c.dilation}` : ''} ${c.act}${c.bias ? ' +bias' : ''}: value, dx, dW, db`;
    it(name, async () => {
      const rng = new Rng(c.b * 100 + c.k * 10 + c.cin);
      const xs = randn(rng, c.b * c.h * c.w * c.cin);
      const fs = randn(rng, c.k * c.k * c.cin * c.cout);
      const bs = randn(rng, c.cout);
      const run = () => {
        const x = tf.tensor4d(xs, [c.b, c.h, c.w, c.cin]);
        const f = tf.tensor4d(fs, [c.k, c.k, c.cin, c.cout]);
        const bias = tf.tensor1d(bs);
        const conv = (a: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor1D) =>
          tf.fused.conv2d({ x: a, filter: w, bias: c.bias ? b : undefined, strides: c.stride, pad: c.pad, dilations: c.dilation ?? 1, activation: c.act });
        const y = conv(x, f, bias);
        // A fixed, non-uniform upstream gradient so every output element matters.
        const dy = tf.tensor(randn(new Rng(9), y.size), y.shape);
        // tfjs has no gradient for dilated convolutions: the forward value only.
        if (c.dilation) return [y];
        const loss = (a: tf.Tensor, w: tf.Tensor, b?: tf.Tensor) => tf.sum(tf.mul(conv(a as tf.Tensor4D, w as tf.Tensor4D, b as tf.Tensor1D), dy));
        return [y, ...(c.bias ? tf.grads(loss)([x, f, bias]) : tf.grads((a: tf.Tensor, w: tf.Tensor) => loss(a, w))([x, f]))];
      };
      const { got, ref } = await onBoth(run);
      const what = ['y', 'dx', 'dW', 'db'];
      expect(ref.length).toBe(c.dilation ? 1 : c.bias ? 4 : 3);
      for (let i = 0; i < ref.length; i++) {
        expect(relErr(got[i], ref[i]), what[i]).toBeLessThan(1e-4);
      }
    });
  }

  const mmCases: { a: number[]; b: number[]; ta: boolean; tb: boolean }[] = [
    { a: [7, 5], b: [5, 9], ta: false, tb: false },
    { a: [5, 7], b: [9, 5], ta: true, tb: true },
    { a: [3, 4, 6], b: [3, 6, 5], ta: false, tb: false },
    { a: [3, 6, 4], b: [1, 6, 5], ta: true, tb: false },
    { a: [1, 4, 6], b: [2, 5, 6], ta: false, tb: true },
  ];
  for (const m of mmCases) {
    it(`matMul ${m.a.join('x')}${m.ta ? 'ᵀ' : ''} · ${m.b.join('x')}${m.tb ? 'ᵀ' : ''}, fused bias + relu, and gradients`, async () => {
      const rng = new Rng(m.a.length * 31 + m.a[0]);
      const as = randn(rng, m.a.reduce((p, q) => p * q, 1));
      const bs = randn(rng, m.b.reduce((p, q) => p * q, 1));
      const n = m.tb ? m.b[m.b.length - 2] : m.b[m.b.length - 1];
      const bias = randn(rng, n);
      const run = () => {
        const a = tf.tensor(as, m.a);
        const b = tf.tensor(bs, m.b);
        const plain = tf.matMul(a, b, m.ta, m.tb);
        const fused = tf.fused.matMul({ a, b, transposeA: m.ta, transposeB: m.tb, bias: tf.tensor1d(bias), activation: 'relu' });
        // tfjs's BatchMatMul gradient does not reduce broadcast batches: values only there.
        if (m.a[0] !== m.b[0]) return [plain, fused];
        const g = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.square(tf.matMul(x, y, m.ta, m.tb))));
        return [plain, fused, ...g([a, b])];
      };
      const { got, ref } = await onBoth(run);
      // tfjs-backend-wasm 4.22's own _FusedMatMul is wrong with a transpose or a batch above 1
      // (25-50 % off cpu here; our models only fuse the plain 2-D dense product): checked on native only.
      const bundledFusedWrong = !info.native && (m.a.length > 2 || m.ta || m.tb);
      for (let i = 0; i < ref.length; i++) {
        if (i === 1 && bundledFusedWrong) continue;
        expect(relErr(got[i], ref[i]), ['plain', 'fused', 'da', 'db'][i]).toBeLessThan(1e-5);
      }
    });
  }
});
