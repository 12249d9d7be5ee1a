import * as tf from '@tensorflow/tfjs-core';
import { l2Normalize } from './l2-normalize.ts';

function checkPair(p: tf.Tensor2D, z: tf.Tensor2D): void {
  if (p.rank !== 2 || z.rank !== 2 || p.shape[0] !== z.shape[0] || p.shape[1] !== z.shape[1]) {
    throw new Error(`BYOL loss needs predictions and targets of the same [B, D] shape, got [${p.shape.join(', ')}] and [${z.shape.join(', ')}]`);
  }
}

/**
 * BYOL's regression loss (Grill et al. 2020, "Bootstrap Your Own Latent", eq. 2): the mean squared
 * error between L2-normalized prediction and target, which is 2 - 2 cos(p, z), averaged over the
 * batch. The caller is responsible for stopping the gradient through `z` (the target network).
 *
 * @param p online predictions [B, D].
 * @param z target projections [B, D].
 * @returns the scalar loss in [0, 4].
 */
export function byolLoss(p: tf.Tensor2D, z: tf.Tensor2D): tf.Scalar {
  checkPair(p, z);
  return tf.tidy(() => {
    const cos = tf.sum(tf.mul(l2Normalize(p), l2Normalize(z)), 1);
    return tf.sub(2, tf.mul(2, tf.mean(cos))) as tf.Scalar;
  });
}

/**
 * BYOL's symmetrized loss over V >= 2 views: the sum over ordered pairs i != j of
 * {@link byolLoss}(p_i, z_j), i.e. each view's prediction regresses every other view's target.
 * For V = 2 this is the paper's L + L~ (view 1 predicts view 2 and vice versa); solo-learn sums
 * the same way for more crops.
 *
 * @param predictions V tensors [B, D], online predictions per view.
 * @param targets V tensors [B, D], target projections per view (gradient stopped by the caller).
 */
export function symmetricByolLoss(predictions: tf.Tensor2D[], targets: tf.Tensor2D[]): tf.Scalar {
  if (predictions.length < 2 || predictions.length !== targets.length) {
    throw new Error(`BYOL needs the same number (>= 2) of predictions and targets, got ${predictions.length} and ${targets.length}`);
  }
  return tf.tidy(() => {
    let total: tf.Scalar = tf.scalar(0);
    for (let i = 0; i < predictions.length; i++) {
      for (let j = 0; j < targets.length; j++) {
        if (i !== j) total = tf.add(total, byolLoss(predictions[i], targets[j]));
      }
    }
    return total;
  });
}
