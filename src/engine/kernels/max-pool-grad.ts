import {
  backend_util,
  MaxPoolGrad,
  type KernelConfig,
  type KernelFunc,
  type MaxPoolGradAttrs,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapF32 } from './wasm-ops.ts';
import { wasmHeap } from './simd.ts';

/**
 * Gradient of 2-D max pooling (NHWC) for wasm as one pass over the pooling windows: each window's
 * first maximum in row-major order (as tfjs's cpu backend picks it) receives the window's dy,
 * dx[b, ih, iw, c] += dy[b, oh, ow, c]. The bundled kernel is a scalar loop that costs ~50 ms on
 * ResNet-18's stem pool (3x3/2 over [32, 32, 32, 64]). With C a multiple of 4 it runs as a SIMD
 * loop (simd.ts) that marks the first window position equal to the pooled output y (the same
 * position), else as a JS loop over the windows with the channels innermost.
 */
function maxPoolGrad(args: { inputs: { dy: TensorInfo; input: TensorInfo; output: TensorInfo }; backend: BackendWasm; attrs: MaxPoolGradAttrs }): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, input, output } = inputs;
  const ci = backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: Ho, outWidth: Wo } = ci;
  const { strideHeight: sh, strideWidth: sw, filterHeight: KH, filterWidth: KW } = ci;
  const { top: pT, left: pL } = ci.padInfo;
  const out = backend.makeOutput(input.shape, 'float32');
  const heap = C % 4 === 0 && output ? wasmHeap(backend) : undefined;
  if (heap) {
    heapF32(backend, out).fill(0);
    const [xp, yp, dyp, dxp] = [input, output, dy, out].map((t) => heap.offset(t.dataId));
    heap.simd.maxPoolGrad(xp, yp, dyp, dxp, B, H, W, C, Ho, Wo, KH, KW, sh, sw, pT, pL);
    return out;
  }
  const xv = heapF32(backend, input);
  const dyv = heapF32(backend, dy);
  const dx = heapF32(backend, out);
  dx.fill(0);
  const best = new Float32Array(C);
  const at = new Int32Array(C);
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < Ho; oh++) {
      const h0 = Math.max(0, oh * sh - pT);
      const h1 = Math.min(H, oh * sh - pT + KH);
      for (let ow = 0; ow < Wo; ow++) {
        const w0 = Math.max(0, ow * sw - pL);
        const w1 = Math.min(W, ow * sw - pL + KW);
        best.fill(Number.NEGATIVE_INFINITY);
        at.fill(-1);
        for (let h = h0; h < h1; h++) {
          for (let w = w0; w < w1; w++) {
            const base = ((b * H + h) * W + w) * C;
            for (let c = 0; c < C; c++) {
              const v = xv[base + c];
              if (v > best[c]) {
                best[c] = v;
                at[c] = base + c;
              }
            }
          }
        }
        const o = ((b * Ho + oh) * Wo + ow) * C;
        for (let c = 0; c < C; c++) if (at[c] >= 0) dx[at[c]] += dyv[o + c];
      }
    }
  }
  return out;
}

/** Registration record of our wasm `MaxPoolGrad` kernel (replaces the bundled one). */
export const maxPoolGradConfig: KernelConfig = {
  kernelName: MaxPoolGrad,
  backendName: 'wasm',
  kernelFunc: maxPoolGrad as unknown as KernelFunc,
};
