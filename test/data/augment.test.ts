import { describe, expect, it, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { cropResize, flip, gaussianBlur, gaussianKernel1d, rot90, standardize, type Image32 } from '../../src/data/augment/ops.ts';
import { augmentations, buildAugmentation, AUGMENT_PRESETS } from '../../src/data/augment/augment.ts';
import { Rng } from '../../src/util/rng.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function randomImage(H: number, W: number, C: number, seed: number): Image32 {
  const r = new Rng(seed);
  return { data: Float32Array.from({ length: H * W * C }, () => r.uniform(0, 1)), height: H, width: W, channels: C };
}
const asTensor = (im: Image32) => tf.tensor3d(im.data, [im.height, im.width, im.channels]);
function close(a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-5): void {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  expect(worst).toBeLessThanOrEqual(tol);
}

describe('augmentation kernels match tfjs ops (cpu backend)', () => {
  const img = randomImage(7, 9, 3, 1);
  const sq = randomImage(8, 8, 3, 2);

  it('rot90 = reverse/transpose, flips = tf.reverse', () => {
    for (let k = 0; k < 4; k++) {
      const want = tf.tidy(() => {
        let t = asTensor(sq);
        // np.rot90 counter-clockwise: transpose then reverse rows, k times.
        for (let i = 0; i < k; i++) t = tf.reverse(tf.transpose(t, [1, 0, 2]), 0);
        return t.dataSync();
      });
      close(rot90(sq, k).data, want, 0);
    }
    const r2 = rot90(img, 2);
    expect([r2.height, r2.width]).toEqual([7, 9]);
    close(r2.data, tf.tidy(() => tf.reverse(asTensor(img), [0, 1]).dataSync()), 0);
    close(flip(img, true).data, tf.tidy(() => tf.reverse(asTensor(img), 1).dataSync()), 0);
    close(flip(img, false).data, tf.tidy(() => tf.reverse(asTensor(img), 0).dataSync()), 0);
  });

  it('cropResize = tf.image.cropAndResize (bilinear)', () => {
    for (const box of [[0, 0, 1, 1], [0.1, 0.2, 0.7, 0.9], [0.5, 0.3, 0.6, 0.35]] as [number, number, number, number][]) {
      const want = tf.tidy(() => tf.image.cropAndResize(tf.expandDims(asTensor(img), 0) as tf.Tensor4D, [box], [0], [5, 6], 'bilinear').dataSync());
      close(cropResize(img, box, 5, 6).data, want);
    }
  });

  it('gaussianBlur = depthwise conv with the same kernel (interior pixels)', () => {
    const big = randomImage(20, 20, 2, 3);
    const sigma = 1.2;
    const k = gaussianKernel1d(sigma);
    const r = (k.length - 1) / 2;
    const k2 = new Float32Array(k.length * k.length * 2);
    for (let i = 0; i < k.length; i++) for (let j = 0; j < k.length; j++) for (let c = 0; c < 2; c++) k2[(i * k.length + j) * 2 + c] = k[i] * k[j];
    const want = tf.tidy(() =>
      tf.depthwiseConv2d(tf.expandDims(asTensor(big), 0) as tf.Tensor4D, tf.tensor4d(k2, [k.length, k.length, 2, 1]), 1, 'valid').dataSync(),
    );
    const got = gaussianBlur(big, sigma);
    const inner: number[] = [];
    for (let y = r; y < 20 - r; y++) for (let x = r; x < 20 - r; x++) for (let c = 0; c < 2; c++) inner.push(got.data[(y * 20 + x) * 2 + c]);
    close(inner, want, 1e-5);
    // Total intensity of a constant image is preserved at the clamped edges too.
    const flat: Image32 = { data: new Float32Array(5 * 5).fill(2), height: 5, width: 5, channels: 1 };
    close(gaussianBlur(flat, 2).data, new Float32Array(25).fill(2), 1e-5);
  });

  it('standardize = (x - mean) / std from tf.moments, per image and channel', () => {
    const im = randomImage(6, 5, 3, 4);
    const want = tf.tidy(() => {
      const t = asTensor(im);
      const { mean, variance } = tf.moments(t, [0, 1], true);
      return tf.div(tf.sub(t, mean), tf.sqrt(variance)).dataSync();
    });
    close(standardize({ ...im, data: im.data.slice() }).data, want, 1e-4);
  });
});

describe('augmentation registry and composition', () => {
  it('is seeded: same seed same output, and every preset builds', () => {
    const im = randomImage(16, 16, 3, 5);
    for (const preset of Object.keys(AUGMENT_PRESETS) as (keyof typeof AUGMENT_PRESETS)[]) {
      const a = buildAugmentation(preset);
      const x = a.apply({ ...im, data: im.data.slice() }, new Rng(1));
      const y = a.apply({ ...im, data: im.data.slice() }, new Rng(1));
      expect(Array.from(x.data)).toEqual(Array.from(y.data));
      expect([x.height, x.width, x.channels]).toEqual([16, 16, 3]);
    }
    const s1 = buildAugmentation('ssl').apply({ ...im, data: im.data.slice() }, new Rng(1));
    const s2 = buildAugmentation('ssl').apply({ ...im, data: im.data.slice() }, new Rng(2));
    expect(Array.from(s1.data)).not.toEqual(Array.from(s2.data));
  });

  it('rot90 and flips permute pixels; standardize leaves each channel mean 0, std 1', () => {
    const im = randomImage(12, 12, 3, 6);
    const out = buildAugmentation([{ name: 'rot90' }, { name: 'flip' }]).apply({ ...im, data: im.data.slice() }, new Rng(3));
    expect(Array.from(out.data).sort()).toEqual(Array.from(im.data).sort());
    const st = buildAugmentation([{ name: 'random-resized-crop', size: 8 }, { name: 'standardize' }]).apply(im, new Rng(4));
    expect([st.height, st.width]).toEqual([8, 8]);
    for (let c = 0; c < 3; c++) {
      const v = Array.from(st.data).filter((_, i) => i % 3 === c);
      const m = v.reduce((a, b) => a + b, 0) / v.length;
      const sd = Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length);
      expect(Math.abs(m)).toBeLessThan(1e-5);
      expect(Math.abs(sd - 1)).toBeLessThan(1e-4);
    }
  });

  it('refuses unknown names and bad options with a UserError', () => {
    expect(() => buildAugmentation([{ name: 'rotate-45' }])).toThrow(/Unknown augmentation "rotate-45"/);
    expect(() => buildAugmentation([{ name: 'gaussian-blur', p: 2 }])).toThrow(/gaussian-blur.*p/);
    expect(() => augmentations.get('flip')({ bogus: 1 })).toThrow(/flip/);
  });
});
