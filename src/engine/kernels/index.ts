import { FusedBatchNorm, getKernel, registerKernel, unregisterKernel, type KernelConfig } from '@tensorflow/tfjs-core';
import { conv2DBackpropFilterConfig } from './conv2d-backprop-filter.ts';
import { conv2DBackpropInputConfig } from './conv2d-backprop-input.ts';
import { identityConfig } from './identity.ts';
import { maxPoolGradConfig } from './max-pool-grad.ts';
import { fusedBatchNormConfig } from './fused-batch-norm.ts';

/** Our wasm training kernels, one per file (tfjs style). */
export const trainingKernels: readonly KernelConfig[] = [conv2DBackpropFilterConfig, conv2DBackpropInputConfig, identityConfig, maxPoolGradConfig];

/** kernelFuncs of our FusedBatchNorm wrappers (so that registering twice wraps once). */
const wrappedBn = new Set<unknown>();

/**
 * Registers {@link trainingKernels} and the inference BatchNorm wrapper for the `wasm` backend, replacing bundled kernels of the same
 * name. Must run before the wasm backend is first initialised (tfjs runs kernel set-up
 * functions at initialisation). Idempotent.
 */
export function registerTrainingKernels(): void {
  // Inference BatchNorm wraps the bundled kernel (its fallback, whose set-up function it keeps).
  const bundledBn = getKernel(FusedBatchNorm, 'wasm');
  if (bundledBn && !wrappedBn.has(bundledBn.kernelFunc)) {
    const ours = fusedBatchNormConfig(bundledBn);
    wrappedBn.add(ours.kernelFunc);
    unregisterKernel(FusedBatchNorm, 'wasm');
    registerKernel(ours);
  }
  for (const k of trainingKernels) {
    const existing = getKernel(k.kernelName, k.backendName);
    if (existing?.kernelFunc === k.kernelFunc) continue;
    if (existing) unregisterKernel(k.kernelName, k.backendName);
    registerKernel(k);
  }
}
