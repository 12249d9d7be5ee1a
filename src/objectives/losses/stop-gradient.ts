import * as tf from '@tensorflow/tfjs-core';

/** Identity forward, zero gradient (PyTorch's `detach`): BYOL's target branch, detached negatives. */
export const stopGradient = tf.customGrad((...args) => {
  const x = args[0] as tf.Tensor;
  return { value: tf.clone(x), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) };
}) as <T extends tf.Tensor>(x: T) => T;
