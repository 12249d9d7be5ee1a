/**
 * The deterministic model input shared by training and inference: stored samples -> float [0, 1]
 * (`toFloat`) -> the whole image resized to the model's input size (bilinear, the convention of
 * `random-resized-crop` with the full box) -> per-image per-channel standardisation
 * (`standardize`, as in WILDS RxRx1 and the BEN paper). It runs the same kernels, in the same
 * order, as the training augmentation chain (crop/resize -> ... -> standardize) with its random
 * parts switched off, so an embedding sees exactly the input distribution the model was trained on.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ImageShape } from './image-store.ts';
import type { Pixels } from './types.ts';
import { cropResize, standardize, toFloat } from './augment/ops.ts';

/** Largest sample value of a dtype (the `toFloat` scale of the training pipeline). */
export function maxSampleValue(dtype: ImageShape['dtype']): number {
  return dtype === 'uint16' ? 65535 : 255;
}

/**
 * Writes image `px` (HWC samples of `shape`) into `out` at `offset` as model input: scaled to
 * [0, 1], resized to `size` x `size` when `size` differs from the image (default: no resize), then
 * standardised per channel. Writes `size * size * channels` floats.
 */
export function standardizeInto(px: Pixels, shape: ImageShape, out: Float32Array, offset: number, size?: number): void {
  modelInputInto(px, shape, out, offset, { size });
}

/** Options of {@link modelInputInto}. */
export interface ModelInputOptions {
  /** Square input size of the model (default: the image size, no resize). */
  size?: number;
  /** Standardise per image and channel (default true; false leaves the [0, 1] scale). */
  standardize?: boolean;
}

/** {@link standardizeInto} with the standardisation optional (a recipe with `augment.standardize: false`). */
export function modelInputInto(px: Pixels, shape: ImageShape, out: Float32Array, offset: number, o: ModelInputOptions = {}): void {
  let img = toFloat(px, shape.height, shape.width, shape.channels, maxSampleValue(shape.dtype));
  if (o.size !== undefined && (o.size !== shape.height || o.size !== shape.width)) img = cropResize(img, [0, 0, 1, 1], o.size, o.size);
  if (o.standardize ?? true) img = standardize(img);
  out.set(img.data, offset);
}

/**
 * A batch of images as model input [B, S, S, C] float32 (S = `size`, default the image size), see
 * {@link standardizeInto}. The caller disposes the tensor.
 */
export function standardizeBatch(images: readonly Pixels[], shape: ImageShape, size?: number): tf.Tensor4D {
  return modelInputBatch(images, shape, { size });
}

/** A batch of model input [B, S, S, C] float32, see {@link modelInputInto}. The caller disposes it. */
export function modelInputBatch(images: readonly Pixels[], shape: ImageShape, o: ModelInputOptions = {}): tf.Tensor4D {
  const h = o.size ?? shape.height;
  const w = o.size ?? shape.width;
  const per = h * w * shape.channels;
  const out = new Float32Array(images.length * per);
  images.forEach((img, b) => modelInputInto(img, shape, out, b * per, o));
  return tf.tensor4d(out, [images.length, h, w, shape.channels]);
}
