import * as tf from '@tensorflow/tfjs-core';
import { l2Normalize } from './l2-normalize.ts';

/**
 * Collapse monitor (BYOL / SimSiam, Chen & He 2021, section 4.1): the per-dimension standard
 * deviation over the batch of the L2-normalized embeddings, averaged over dimensions. About
 * 1/sqrt(D) for well-spread embeddings, 0 when every image maps to the same point.
 *
 * @param z embeddings [B, D].
 */
export function embeddingStd(z: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.sqrt(tf.moments(l2Normalize(z), 0).variance)) as tf.Scalar);
}
