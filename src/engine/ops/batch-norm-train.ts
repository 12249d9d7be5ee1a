import * as tf from '@tensorflow/tfjs-core';
import { BN_TRAIN, BN_TRAIN_GRAD, registerBatchNormTrainKernels } from '../kernels/batch-norm-train.ts';

/** What {@link batchNormTrain} returns. */
export interface BatchNormTrainResult {
  /** Normalised output, same shape as x. */
  y: tf.Tensor;
  /** Batch mean per channel [C]. */
  mean: tf.Tensor1D;
  /** Biased batch variance per channel [C] (divide by N); unbias it for running statistics. */
  variance: tf.Tensor1D;
}

/** Whether the active backend has the fused BatchNorm training kernels (wasm and cpu do). */
export function batchNormTrainSupported(): boolean {
  registerBatchNormTrainKernels();
  const backend = tf.getBackend();
  return tf.getKernel(BN_TRAIN, backend) !== undefined && tf.getKernel(BN_TRAIN_GRAD, backend) !== undefined;
}

/**
 * BatchNorm in training mode over the channel (last) axis of x [..., C] with batch statistics,
 * as one fused kernel each way (BEN: the batch is one plate, so these statistics remove the
 * plate's batch effect; Lin & Lu 2022). Differentiable in x, gamma and beta; mean and variance
 * are returned for the moving averages and carry no gradient. Runs on wasm and cpu.
 * y = gamma * (x - mean) / sqrt(variance + epsilon) + beta.
 */
export function batchNormTrain(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, epsilon: number): BatchNormTrainResult {
  registerBatchNormTrainKernels();
  let stats: { mean: tf.Tensor1D; variance: tf.Tensor1D } | undefined;
  const f = tf.customGrad(((xi: tf.Tensor, g: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    const [y, mean, variance, invStd] = tf.engine().runKernel(BN_TRAIN, { x: xi, gamma: g, beta: b }, { epsilon }) as tf.Tensor[];
    stats = { mean: tf.keep(mean) as tf.Tensor1D, variance: tf.keep(variance) as tf.Tensor1D };
    save([xi, mean, invStd, g]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sm, si, sg] = saved;
        return tf.engine().runKernel(BN_TRAIN_GRAD, { dy, x: sx, mean: sm, invStd: si, gamma: sg }, {}) as tf.Tensor[];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  const y = f(x, gamma, beta);
  // customGrad's forward runs in its own scope: the statistics were kept to get out of it; hand
  // back clones tracked by the caller's scope (tidy) and drop the kept originals.
  const mean = tf.clone(stats!.mean);
  const variance = tf.clone(stats!.variance);
  tf.dispose([stats!.mean, stats!.variance]);
  return { y, mean, variance };
}
