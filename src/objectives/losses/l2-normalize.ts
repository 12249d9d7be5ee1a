import * as tf from '@tensorflow/tfjs-core';

/** Squared-norm floor: `x / max(||x||, 1e-12)` as torch's `F.normalize`, without sqrt's infinite gradient at 0. */
const MIN_SQUARED_NORM = 1e-24;

/**
 * Rows of `x` [N, D] scaled to unit L2 norm (a zero row stays zero). Used by the contrastive and
 * BYOL losses, whose similarities are cosines.
 */
export function l2Normalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.mul(x, tf.rsqrt(tf.maximum(tf.sum(tf.square(x), 1, true), MIN_SQUARED_NORM))));
}
