import * as tf from '@tensorflow/tfjs-core';
import { ADAM_UPDATE, registerAdamUpdateKernels, type AdamUpdateAttrs } from '../kernels/adam-update.ts';

/** Whether the active backend has the fused AdamW update kernel (wasm and cpu do). */
export function adamUpdateSupported(): boolean {
  registerAdamUpdateKernels();
  return tf.getKernel(ADAM_UPDATE, tf.getBackend()) !== undefined;
}

/**
 * Fused AdamW update of one parameter (see kernels/adam-update.ts for the formula): returns the
 * new parameter, first and second moments [same shape as p]; the caller assigns them. Not
 * differentiable (an optimizer step).
 */
export function adamUpdate(p: tf.Tensor, g: tf.Tensor, m: tf.Tensor, v: tf.Tensor, attrs: AdamUpdateAttrs): [tf.Tensor, tf.Tensor, tf.Tensor] {
  registerAdamUpdateKernels();
  return tf.engine().runKernel(ADAM_UPDATE, { p, g, m, v }, attrs as unknown as tf.NamedAttrMap) as [tf.Tensor, tf.Tensor, tf.Tensor];
}
