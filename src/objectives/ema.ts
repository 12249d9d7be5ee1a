import * as tf from '@tensorflow/tfjs-core';
import { cosineSchedule } from '../util/schedule.ts';

/**
 * BYOL's target momentum at step k of K (Grill et al. 2020, section 3.2):
 *
 *   tau_k = 1 - (1 - tau_base) * (cos(pi * k / K) + 1) / 2,
 *
 * generalised to end at `final` instead of 1: `final - (final - base) * (cos(pi k / K) + 1) / 2`.
 * It rises from `base` at k = 0 to `final` at k = K along the same half-cosine that drives the
 * learning rate (it is {@link cosineSchedule} from `base` to `final`). A pure function of the step,
 * so a resumed run gets the same momenta.
 *
 * @param step k, clamped to [0, K].
 * @param totalSteps K > 0.
 * @param base tau_base (BYOL: 0.996 at batch 4096; 0.99 is solo-learn's default for small batches).
 * @param final momentum at the end (1: the target freezes).
 */
export function cosineMomentum(step: number, totalSteps: number, base = 0.99, final = 1): number {
  if (!(totalSteps > 0)) throw new Error(`cosineMomentum: totalSteps must be > 0, got ${totalSteps}`);
  if (!(base >= 0 && base <= final && final <= 1)) {
    throw new Error(`cosineMomentum: need 0 <= base <= final <= 1, got base=${base}, final=${final}`);
  }
  return cosineSchedule(step, totalSteps, base, final);
}

/**
 * The exponential moving average of one tensor: `momentum * target + (1 - momentum) * online`.
 * Pure (returns a new tensor).
 */
export function emaValue(target: tf.Tensor, online: tf.Tensor, momentum: number): tf.Tensor {
  return tf.tidy(() => tf.add(tf.mul(target, momentum), tf.mul(online, 1 - momentum)));
}

/**
 * Updates each target variable in place to the EMA of itself and its online twin
 * (`xi <- tau xi + (1 - tau) theta`, BYOL eq. 1). Pairs must have equal shapes.
 *
 * @param pairs `[online, target]` tensors (solo-learn's "momentum pairs").
 * @param momentum tau in [0, 1].
 */
export function emaUpdate(pairs: ReadonlyArray<readonly [tf.Tensor, tf.Variable]>, momentum: number): void {
  if (!(momentum >= 0 && momentum <= 1)) throw new Error(`emaUpdate: momentum must be in [0, 1], got ${momentum}`);
  for (const [online, target] of pairs) {
    if (!tf.util.arraysEqual(online.shape, target.shape)) {
      throw new Error(`emaUpdate: shape mismatch [${online.shape.join(', ')}] vs [${target.shape.join(', ')}] for ${target.name}`);
    }
    if (momentum === 1) continue;
    tf.tidy(() => target.assign(emaValue(target, online, momentum)));
  }
}
