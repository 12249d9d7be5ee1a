import { FusedBatchNorm, type FusedBatchNormAttrs, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { wasmHeap } from './simd.ts';

const size = (t: TensorInfo) => t.shape.reduce((a, b) => a * b, 1);

/**
 * Inference-mode BatchNorm (`tf.batchNorm`, what BEN BatchNorm runs with running, batch or plate
 * statistics) for wasm with per-channel statistics: folds mean, variance, offset and scale into
 * one scale and shift per channel, then y = scale * x + shift as the SIMD affine loop. The bundled
 * kernel takes a square root per element (~5 ns per value, ~10% of ResNet-18 inference).
 * Anything else (other broadcasts, C not a multiple of 4, non-float32) goes to `fallback`.
 */
export function fusedBatchNormConfig(fallback: KernelConfig): KernelConfig {
  const kernelFunc = (args: {
    inputs: { x: TensorInfo; mean: TensorInfo; variance: TensorInfo; offset?: TensorInfo; scale?: TensorInfo };
    backend: BackendWasm;
    attrs: FusedBatchNormAttrs;
  }): TensorInfo => {
    const { x, mean, variance, offset, scale } = args.inputs;
    const C = x.shape[x.shape.length - 1] ?? 0;
    const perChannel = [mean, variance, offset, scale].every((t) => t === undefined || (size(t) === C && t.dtype === 'float32'));
    const heap = perChannel && x.dtype === 'float32' && C % 4 === 0 && size(x) > 0 ? wasmHeap(args.backend) : undefined;
    if (!heap) return fallback.kernelFunc(args as unknown as Parameters<KernelFunc>[0]) as TensorInfo;
    const backend = args.backend;
    const out = backend.makeOutput(x.shape, 'float32');
    const ptr = heap.malloc(12 * C + 16);
    const base = (ptr + 15) & ~15;
    const [P, Q, R] = [base, base + 4 * C, base + 8 * C];
    const view = (t: TensorInfo | undefined) => (t ? heap.f32(heap.offset(t.dataId), C) : undefined);
    const [m, v, o, s] = [mean, variance, offset, scale].map(view);
    const [pv, qv, rv] = [heap.f32(P, C), heap.f32(Q, C), heap.f32(R, C)];
    const eps = args.attrs.varianceEpsilon;
    for (let c = 0; c < C; c++) {
      const k = (s ? s[c] : 1) / Math.sqrt(v![c] + eps);
      pv[c] = k;
      qv[c] = 0;
      rv[c] = (o ? o[c] : 0) - m![c] * k;
    }
    const xp = heap.offset(x.dataId);
    heap.simd.affine2(xp, xp, heap.offset(out.dataId), size(x) / C, C, P, Q, R);
    heap.free(ptr);
    return out;
  };
  return { ...fallback, kernelFunc: kernelFunc as unknown as KernelFunc };
}
