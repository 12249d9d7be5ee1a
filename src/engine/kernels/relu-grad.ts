import { getKernel, registerKernel, type KernelBackend, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import { typedIO } from './typed-io.ts';
import { wasmHeap } from './simd.ts';

/**
 * Gradient of ReLU in one pass: dx = x > 0 ? dy : 0 (inputs dy, x of the same shape). tfjs's
 * registered gradient runs three kernels (Step, a Cast that copies, Multiply), each a pass over
 * the activation with its own allocation. On wasm a SIMD loop (simd.ts), elsewhere a JS loop.
 */
function reluGrad(args: { inputs: { dy: TensorInfo; x: TensorInfo }; backend: KernelBackend }): TensorInfo {
  const { dy, x } = args.inputs;
  const { make, view } = typedIO(args.backend);
  const [out] = make([x.shape]);
  const n = x.shape.reduce((a, b) => a * b, 1);
  const heap = wasmHeap(args.backend);
  let done = 0;
  if (heap) {
    done = n - (n % 4);
    heap.simd.reluGrad(heap.offset(dy.dataId), heap.offset(x.dataId), heap.offset(out.dataId), done / 4);
  }
  const [dyv, xv, ov] = [view(dy), view(x), view(out)];
  for (let i = done; i < n; i++) ov[i] = xv[i] > 0 ? dyv[i] : 0;
  return out;
}

/** Kernel name of the one-pass ReLU gradient. */
export const RELU_GRAD = 'BenReluGrad';

/** Registration records for wasm and cpu. */
export const reluGradConfigs: KernelConfig[] = ['wasm', 'cpu'].map((backendName) => ({
  kernelName: RELU_GRAD,
  backendName,
  kernelFunc: reluGrad as unknown as KernelFunc,
}));

/** Registers the ReLU gradient kernels (idempotent). */
export function registerReluGradKernels(): void {
  for (const k of reluGradConfigs) if (!getKernel(k.kernelName, k.backendName)) registerKernel(k);
}
