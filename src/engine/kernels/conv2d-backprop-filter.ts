import {
  backend_util,
  Conv2DBackpropFilter,
  type Conv2DBackpropFilterAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { cropNHWC, heapF32, release, wasmOp } from './wasm-ops.ts';
import { batchToChannels, swapOuter } from './fast-transpose.ts';
import { engineFlags } from '../flags.ts';

/**
 * Filter gradient of a 2-D convolution (missing from tfjs-backend-wasm 4.22), as one
 * XNNPACK convolution: with x [B,H,W,Ci] and dy [B,Ho,Wo,Co],
 *   dW[kh,kw,ci,co] = sum_{b,oh,ow} x[b, oh*s+kh-p, ow*s+kw-p, ci] * dy[b,oh,ow,co]
 * is the convolution of x^T [Ci,H,W,B] (channels become the batch, the batch becomes the
 * channels) with dy^T [Ho,Wo,B,Co] as a (Ho x Wo) filter dilated by the forward stride,
 * giving [Ci,KH,KW,Co], transposed back to [KH,KW,Ci,Co].
 */
function conv2DBackpropFilter(args: {
  inputs: { x: TensorInfo; dy: TensorInfo };
  backend: BackendWasm;
  attrs: Conv2DBackpropFilterAttrs;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, dy } = inputs;
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs;
  const ci = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    backend_util.convertConv2DDataFormat(dataFormat),
  );
  if (ci.dataFormat !== 'channelsLast') throw new Error('Conv2DBackpropFilter (wasm) supports NHWC only');
  const { inHeight: H, inWidth: W, outHeight: Ho, outWidth: Wo, filterHeight: KH, filterWidth: KW } = ci;
  const { strideHeight: sh, strideWidth: sw } = ci;
  const { top, left } = ci.padInfo;
  if (engineFlags().gemm && KH * KW * ci.inChannels >= engineFlags().gemmRatio * ci.batchSize * Ho * Wo) return viaGemm(backend, x, dy, ci);
  // Padding that makes the dilated "filter" dy^T land exactly KH x KW times; a negative bottom
  // or right pad means trailing input rows/columns the forward conv never read: crop them.
  const bottom = (Ho - 1) * sh + KH - H - top;
  const right = (Wo - 1) * sw + KW - W - left;
  const xt = batchToChannels(backend, x) ?? wasmOp(backend, 'Transpose', { x }, { perm: [3, 1, 2, 0] });
  const xc = cropNHWC(backend, xt, 0, 0, H + Math.min(0, bottom), W + Math.min(0, right));
  const dyt = swapOuter(backend, dy, ci.batchSize, Ho * Wo, ci.outChannels, [Ho, Wo, ci.batchSize, ci.outChannels]);
  const conv = wasmOp(
    backend,
    'Conv2D',
    { x: xc, filter: dyt },
    {
      strides: [1, 1],
      dilations: [sh, sw],
      pad: [
        [0, 0],
        [top, Math.max(0, bottom)],
        [left, Math.max(0, right)],
        [0, 0],
      ],
      dataFormat: 'NHWC',
    },
  );
  const dw = swapOuter(backend, conv, ci.inChannels, KH * KW, ci.outChannels, [KH, KW, ci.inChannels, ci.outChannels]);
  release(backend, xt, dyt, conv);
  if (xc !== xt) release(backend, xc);
  return dw;
}

/**
 * dW for big filters over few output pixels (the same rule as the input gradient's GEMM path):
 * dW [KH*KW*Ci, Co] = col^T [KH*KW*Ci, N] x dy [N, Co], with col^T[(kh,kw,ci), (b,oh,ow)] =
 * x[b, oh*s+kh-pT, ow*s+kw-pL, ci] (0 outside) gathered in JS. The product comes out in the
 * filter's HWIO layout, so the convolution path's transposes (of x, dy and the result, each a
 * pass over a large tensor for ResNet's last stage) and its filter packing all go.
 */
function viaGemm(backend: BackendWasm, x: TensorInfo, dy: TensorInfo, ci: backend_util.Conv2DInfo): TensorInfo {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: Ci, outChannels: Co } = ci;
  const { outHeight: Ho, outWidth: Wo, filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = ci;
  const { top: pT, left: pL } = ci.padInfo;
  const N = B * Ho * Wo;
  const K = KH * KW * Ci;
  const colT = backend.makeOutput([1, K, N], 'float32');
  const xv = heapF32(backend, x);
  const col = heapF32(backend, colT);
  for (let kh = 0; kh < KH; kh++) {
    for (let kw = 0; kw < KW; kw++) {
      for (let c = 0; c < Ci; c++) {
        let q = ((kh * KW + kw) * Ci + c) * N;
        for (let b = 0; b < B; b++) {
          for (let oh = 0; oh < Ho; oh++) {
            const ih = oh * sh + kh - pT;
            if (ih < 0 || ih >= H) {
              col.fill(0, q, q + Wo);
              q += Wo;
              continue;
            }
            const rowBase = (b * H + ih) * W;
            for (let ow = 0; ow < Wo; ow++, q++) {
              const iw = ow * sw + kw - pL;
              col[q] = iw >= 0 && iw < W ? xv[(rowBase + iw) * Ci + c] : 0;
            }
          }
        }
      }
    }
  }
  const dw = wasmOp(backend, 'BatchMatMul', { a: colT, b: { ...dy, shape: [1, N, Co] } }, { transposeA: false, transposeB: false });
  release(backend, colT);
  return { ...dw, shape: [KH, KW, Ci, Co] };
}

/** Registration record of the wasm `Conv2DBackpropFilter` kernel. */
export const conv2DBackpropFilterConfig: KernelConfig = {
  kernelName: Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilter as unknown as KernelFunc,
};
