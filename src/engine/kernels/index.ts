import { getKernel, registerKernel, unregisterKernel, type KernelConfig } from '@tensorflow/tfjs-core';
import { conv2DBackpropFilterConfig } from './conv2d-backprop-filter.ts';
import { conv2DBackpropInputConfig } from './conv2d-backprop-input.ts';
import { identityConfig } from './identity.ts';
import { maxPoolGradConfig } from './max-pool-grad.ts';

/** Our wasm training kernels, one per file (tfjs style). */
export const trainingKernels: readonly KernelConfig[] = [conv2DBackpropFilterConfig, conv2DBackpropInputConfig, identityConfig, maxPoolGradConfig];

/**
 * Registers {@link trainingKernels} for the `wasm` backend, replacing bundled kernels of the same
 * name. Must run before the wasm backend is first initialised (tfjs runs kernel set-up
 * functions at initialisation). Idempotent.
 */
export function registerTrainingKernels(): void {
  for (const k of trainingKernels) {
    const existing = getKernel(k.kernelName, k.backendName);
    if (existing?.kernelFunc === k.kernelFunc) continue;
    if (existing) unregisterKernel(k.kernelName, k.backendName);
    registerKernel(k);
  }
}
