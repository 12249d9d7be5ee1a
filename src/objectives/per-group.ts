import * as tf from '@tensorflow/tfjs-core';

/**
 * Applies `f` (a network in training mode) to each consecutive chunk of `x` separately, rows per
 * chunk in `sizes`, and concatenates the outputs in the input order. Every BatchNorm inside `f`
 * then normalizes each chunk with that chunk's own statistics: BEN with several plates in one
 * batch (each plate's images are normalized by their plate's statistics, while the loss still
 * sees all of them, e.g. SimCLR negatives from several plates). No `sizes`, or one chunk: `f(x)`.
 */
export function applyPerGroup<T extends tf.Tensor>(f: (x: T) => tf.Tensor, x: T, sizes?: readonly number[]): tf.Tensor {
  if (!sizes || sizes.length <= 1) return f(x);
  const total = sizes.reduce((a, b) => a + b, 0);
  if (total !== x.shape[0]) throw new Error(`applyPerGroup: chunk sizes sum to ${total}, the batch has ${x.shape[0]} rows`);
  const parts = tf.split(x, [...sizes], 0) as T[];
  return tf.concat(parts.map((p) => f(p)), 0);
}

/**
 * `[g0v0, g0v1, g1v0, g1v1, ...]`: the views of each group side by side, so that with chunk sizes
 * `sizes[g] * views` the views of one plate share its BatchNorm statistics, as in a one-plate batch.
 */
export function interleaveViews(views: readonly tf.Tensor4D[], sizes: readonly number[]): tf.Tensor4D {
  const split = views.map((v) => tf.split(v, [...sizes], 0));
  return tf.concat(sizes.flatMap((_, g) => split.map((s) => s[g])), 0) as tf.Tensor4D;
}

/** Inverse of {@link interleaveViews} for per-row outputs `y`: one tensor per view, rows in batch order. */
export function deinterleaveViews<T extends tf.Tensor>(y: T, sizes: readonly number[], views: number): T[] {
  const parts = tf.split(y, sizes.flatMap((s) => Array.from({ length: views }, () => s)), 0) as T[];
  return Array.from({ length: views }, (_, v) => tf.concat(sizes.map((_, g) => parts[g * views + v]), 0) as T);
}
