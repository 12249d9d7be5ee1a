/**
 * How an image of any size becomes the input of a model trained on `size` x `size` crops:
 * - `resize`: the whole field resized to the training size (bilinear; the training pipeline's
 *   deterministic core, data/preprocess.ts). Identity when the image already has that size.
 * - `center-crop`: the central `size` x `size` pixels, at native resolution.
 * - `tiles`: the field covered by `size` x `size` crops at native resolution (evenly spread, the
 *   last ones overlapping when the size does not divide the field); the embedder averages the
 *   tiles' embeddings into the site's.
 * Every input is then scaled to [0, 1] and standardised per channel when the model was (each crop
 * on its own statistics, as the training augmentation standardises each crop).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ImageShape } from '../data/image-store.ts';
import { modelInputInto } from '../data/preprocess.ts';
import { newPixels, dtypeOf, type Pixels } from '../data/types.ts';
import { UserError } from '../util/errors.ts';

export { RESIZE_MODES, isResizeMode, type ResizeMode } from '../data/preprocess.ts';
import type { ResizeMode } from '../data/preprocess.ts';

/**
 * Start offsets of `size`-long windows covering [0, length): ceil(length / size) windows spread
 * evenly from 0 to length - size (rounded), so the first starts at 0 and the last ends at the
 * edge. One window of a field as long as the window starts at 0.
 */
export function tileOrigins(length: number, size: number): number[] {
  if (!(size >= 1 && length >= size)) throw new RangeError(`tileOrigins: window ${size} does not fit in ${length}`);
  const n = Math.ceil(length / size);
  if (n === 1) return [0];
  return Array.from({ length: n }, (_, i) => Math.round((i * (length - size)) / (n - 1)));
}

/** The crop boxes `[y, x]` (top-left, row-major) of a mode on an image of `shape`, each `size` x `size`. */
export function cropOrigins(mode: Exclude<ResizeMode, 'resize'>, shape: Pick<ImageShape, 'height' | 'width'>, size: number): [number, number][] {
  if (shape.height < size || shape.width < size) {
    throw new UserError(
      `The images are ${shape.height}x${shape.width}, smaller than the model input ${size}x${size}, so --resize-mode ${mode} cannot cut ${size}-pixel crops from them. Use --resize-mode resize.`,
    );
  }
  if (mode === 'center-crop') return [[Math.floor((shape.height - size) / 2), Math.floor((shape.width - size) / 2)]];
  const ys = tileOrigins(shape.height, size);
  const xs = tileOrigins(shape.width, size);
  return ys.flatMap((y) => xs.map((x): [number, number] => [y, x]));
}

/** The `size` x `size` crop of HWC samples `px` at top-left (y, x), as a new buffer of the same type. */
export function cropPixels(px: Pixels, shape: ImageShape, y: number, x: number, size: number): Pixels {
  const C = shape.channels;
  const out = newPixels(dtypeOf(px), size * size * C);
  for (let r = 0; r < size; r++) {
    const src = ((y + r) * shape.width + x) * C;
    out.set(px.subarray(src, src + size * C), r * size * C);
  }
  return out;
}

/** Options of {@link modelInputFor}. */
export interface ModelInputSpec {
  mode: ResizeMode;
  /** The model's (square) input size: the training crop size. */
  size: number;
  /** Per-image per-channel standardisation after the [0, 1] scale (default true). */
  standardize?: boolean;
}

/** Model inputs per image of a mode on images of `shape`: 1, or the tile count. */
export function inputsPerImage(spec: ModelInputSpec, shape: Pick<ImageShape, 'height' | 'width'>): number {
  return spec.mode === 'resize' ? 1 : cropOrigins(spec.mode, shape, spec.size).length;
}

/**
 * The embedder's preprocessing for a mode: images [B] of `shape` -> model input
 * [B * k, size, size, C] float32, the k inputs of an image consecutive (k = 1 for resize and
 * center-crop, the tile count for tiles). The caller disposes the tensor.
 */
export function modelInputFor(spec: ModelInputSpec): (images: Pixels[], shape: ImageShape) => tf.Tensor4D {
  const { mode, size } = spec;
  const standardize = spec.standardize ?? true;
  return (images, shape) => {
    const C = shape.channels;
    const per = size * size * C;
    if (mode === 'resize') {
      const out = new Float32Array(images.length * per);
      images.forEach((img, b) => modelInputInto(img, shape, out, b * per, { size, standardize }));
      return tf.tensor4d(out, [images.length, size, size, C]);
    }
    const boxes = cropOrigins(mode, shape, size);
    const cropShape: ImageShape = { height: size, width: size, channels: C, dtype: shape.dtype };
    const out = new Float32Array(images.length * boxes.length * per);
    let k = 0;
    for (const img of images) {
      for (const [y, x] of boxes) modelInputInto(cropPixels(img, shape, y, x, size), cropShape, out, k++ * per, { standardize });
    }
    return tf.tensor4d(out, [k, size, size, C]);
  };
}
