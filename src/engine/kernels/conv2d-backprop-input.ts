import {
  backend_util,
  Conv2DBackpropInput,
  type Conv2DBackpropInputAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { cropNHWC, heapF32, release, wasmOp } from './wasm-ops.ts';
import { transpose2D, transposeFilter, transposeFilterTap } from './fast-transpose.ts';
import { wasmHeap } from './simd.ts';
import { engineFlags } from '../flags.ts';

/**
 * Input gradient of a 2-D convolution through XNNPACK convolutions (the bundled wasm kernel is a
 * scalar loop, ~10x slower than the forward conv).
 *
 * Stride 1: one convolution of dy with the flipped, transposed filter. Stride s > 1: polyphase
 * decomposition instead of zero insertion (see {@link perPhase}): one stride-1 convolution per
 * phase with its sub-filter, so no multiply touches an inserted zero (zero insertion wastes
 * s*s of them) and the MACs equal the forward conv's.
 */
function conv2DBackpropInput(args: {
  inputs: { dy: TensorInfo; filter: TensorInfo };
  backend: BackendWasm;
  attrs: Conv2DBackpropInputAttrs;
}): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs;
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs;
  const ci = backend_util.computeConv2DInfo(
    inputShape,
    filter.shape as [number, number, number, number],
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    backend_util.convertConv2DDataFormat(dataFormat),
  );
  if (ci.dataFormat !== 'channelsLast') throw new Error('Conv2DBackpropInput (wasm) supports NHWC only');
  const { inHeight: H, inWidth: W, inChannels: Ci, outChannels: Co } = ci;
  const { outHeight: Ho, outWidth: Wo, filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = ci;
  const { top: pT, left: pL } = ci.padInfo;
  const N = ci.batchSize * Ho * Wo;
  // Big filters over few output pixels (ResNet's last stage): every convolution above would
  // transform and pack the whole filter; as a GEMM the filter is only read.
  if (engineFlags().gemm && KH * KW * Ci >= engineFlags().gemmRatio * N) return viaGemm(backend, dy, filter, ci);
  if (sh * sw > 1) return perPhase(backend, dy, filter, ci);

  // Stride 1: a correlation of dy with the spatially flipped, transposed filter, padded so that
  // output row i reads dy rows i + pT - KH + 1 .. i + pT (negative padding: crop dy instead).
  const f = flippedFilter(backend, filter, KH, KW, Ci, Co);
  const padTop = KH - 1 - pT;
  const padBottom = H - 1 + pT - (Ho - 1);
  const padLeft = KW - 1 - pL;
  const padRight = W - 1 + pL - (Wo - 1);
  const out = correlatePadded(backend, dy, f, Ho, Wo, padTop, padBottom, padLeft, padRight);
  release(backend, f);
  return out;
}

/**
 * Stride-1 correlation of dy [B, Ho, Wo, Co] with filter f, with the given (possibly negative)
 * padding on each side: a negative pad crops dy instead (XNNPACK takes non-negative pads only).
 */
function correlatePadded(
  backend: BackendWasm,
  dy: TensorInfo,
  f: TensorInfo,
  Ho: number,
  Wo: number,
  padT: number,
  padB: number,
  padL: number,
  padR: number,
): TensorInfo {
  const cutT = Math.max(0, -padT);
  const cutL = Math.max(0, -padL);
  const dyc = cropNHWC(backend, dy, cutT, cutL, Ho - cutT - Math.max(0, -padB), Wo - cutL - Math.max(0, -padR));
  const out = wasmOp(
    backend,
    'Conv2D',
    { x: dyc, filter: f },
    {
      strides: [1, 1],
      dilations: [1, 1],
      pad: [
        [0, 0],
        [Math.max(0, padT), Math.max(0, padB)],
        [Math.max(0, padL), Math.max(0, padR)],
        [0, 0],
      ],
      dataFormat: 'NHWC',
    },
  );
  if (dyc !== dy) release(backend, dyc);
  return out;
}

/**
 * When {@link viaGemm} is chosen: KH*KW*Ci >= ratio * N (N = B*Ho*Wo output pixels). Measured on
 * ResNet-18 shapes: 36 (2 px, 512 ch) wins 43 -> ~25 ms, 4.5 (4 px, 256 ch) loses 22 -> ~28 ms.
 * `enabled: false` never chooses it (A/B benchmarks); tests force it with ratio 0.
 */


/**
 * dx as one matrix product and a scatter: col^T [KH*KW*Ci, N] = W [KH*KW*Ci, Co] x dy^T [Co, N]
 * (W in its own HWIO layout as the left operand: nothing is transposed or packed but dy^T, which
 * is small when N = B*Ho*Wo is), then col2im: dx[b, oh*s+kh-pT, ow*s+kw-pL, ci] +=
 * col^T[(kh,kw,ci), (b,oh,ow)] for the pixels inside the input. Any stride and padding.
 */
function viaGemm(backend: BackendWasm, dy: TensorInfo, filter: TensorInfo, ci: backend_util.Conv2DInfo): TensorInfo {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: Ci, outChannels: Co } = ci;
  const { outHeight: Ho, outWidth: Wo, filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = ci;
  const { top: pT, left: pL } = ci.padInfo;
  const N = B * Ho * Wo;
  const K = KH * KW * Ci;
  const dyT = transpose2D(backend, dy, N, Co) ?? wasmOp(backend, 'Transpose', { x: { ...dy, shape: [N, Co] } }, { perm: [1, 0] });
  const colT = wasmOp(
    backend,
    'BatchMatMul',
    { a: { ...filter, shape: [1, K, Co] }, b: { ...dyT, shape: [1, Co, N] } },
    { transposeA: false, transposeB: false },
  );
  release(backend, dyT);
  const out = backend.makeOutput([B, H, W, Ci], 'float32');
  const col = heapF32(backend, colT);
  const dx = heapF32(backend, out);
  dx.fill(0);
  for (let kh = 0; kh < KH; kh++) {
    for (let kw = 0; kw < KW; kw++) {
      // Output columns whose input column ow*sw + kw - pL lies in [0, W).
      const ow0 = Math.max(0, Math.ceil((pL - kw) / sw));
      const ow1 = Math.min(Wo, Math.floor((W - 1 + pL - kw) / sw) + 1);
      for (let c = 0; c < Ci; c++) {
        const row = ((kh * KW + kw) * Ci + c) * N;
        for (let b = 0; b < B; b++) {
          for (let oh = 0; oh < Ho; oh++) {
            const ih = oh * sh + kh - pT;
            if (ih < 0 || ih >= H) continue;
            const src = row + (b * Ho + oh) * Wo;
            const dst = ((b * H + ih) * W + kw - pL) * Ci + c;
            for (let ow = ow0; ow < ow1; ow++) dx[dst + ow * sw * Ci] += col[src + ow];
          }
        }
      }
    }
  }
  release(backend, colT);
  return out;
}

/** Rows q of phase r's grid that land in the input, i = s*q + r - pad in [0, n): [qa, qb]. */
function phaseRange(r: number, s: number, pad: number, n: number): [number, number] {
  return [Math.ceil((pad - r) / s), Math.floor((n - 1 + pad - r) / s)];
}

/**
 * Strided input gradient, one stride-1 convolution per phase (ry, rx): the input pixels
 * i = s*q + r - pad receive dx[i] = sum_m dy[q-m] * w[r + s*m], a correlation of dy with the
 * flipped sub-filter of taps r, r+s, ... (ceil((K-r)/s) of them). The phases together use each
 * filter tap once, so the MACs equal the forward conv's (one combined convolution with the
 * largest phase filter would multiply up to (ceil(K/s)*s/K)^2 more, 4x for 1x1/2); phases with
 * no tap (r >= K) leave zeros. Each phase's result is scattered into its rows and columns.
 */
function perPhase(backend: BackendWasm, dy: TensorInfo, filter: TensorInfo, ci: backend_util.Conv2DInfo): TensorInfo {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: Ci, outChannels: Co } = ci;
  const { outHeight: Ho, outWidth: Wo, filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = ci;
  const { top: pT, left: pL } = ci.padInfo;
  // [KH, KW, Co, Ci]; not needed when the sub-filters are cut by SIMD transposes straight from w.
  const direct = Ci % 4 === 0 && Co % 4 === 0 && wasmHeap(backend) !== undefined;
  const wt = direct ? undefined : wasmOp(backend, 'Transpose', { x: filter }, { perm: [0, 1, 3, 2] });
  const parts: { ry: number; rx: number; qa: number; ua: number; nq: number; nu: number; conv: TensorInfo }[] = [];
  let covered = 0;
  for (let ry = 0; ry < Math.min(sh, KH); ry++) {
    const [qa, qb] = phaseRange(ry, sh, pT, H);
    if (qb < qa) continue;
    const Mh = Math.ceil((KH - ry) / sh);
    for (let rx = 0; rx < Math.min(sw, KW); rx++) {
      const [ua, ub] = phaseRange(rx, sw, pL, W);
      if (ub < ua) continue;
      const Mw = Math.ceil((KW - rx) / sw);
      const f = wt ? subFilter(backend, wt, KW, Ci, Co, ry, rx, sh, sw, Mh, Mw) : subFilterDirect(backend, filter, ry, rx, sh, sw, Mh, Mw);
      // Output j = q - qa reads dy rows q - Mh + 1 .. q: pad (or crop) dy to rows qa-Mh+1 .. qb.
      const padT = Mh - 1 - qa;
      const padB = qb - (Ho - 1);
      const padL = Mw - 1 - ua;
      const padR = ub - (Wo - 1);
      const conv = correlatePadded(backend, dy, f, Ho, Wo, padT, padB, padL, padR);
      release(backend, f);
      parts.push({ ry, rx, qa, ua, nq: qb - qa + 1, nu: ub - ua + 1, conv });
      covered += (qb - qa + 1) * (ub - ua + 1);
    }
  }
  if (wt) release(backend, wt);
  // Views are taken after the last allocation (a heap growth detaches earlier ones).
  const out = backend.makeOutput([B, H, W, Ci], 'float32');
  const dst = heapF32(backend, out);
  if (covered < H * W) dst.fill(0);
  for (const { ry, rx, qa, ua, nq, nu, conv } of parts) {
    const src = heapF32(backend, conv);
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < nq; j++) {
        const i = sh * (qa + j) + ry - pT;
        let s0 = ((b * nq + j) * nu) * Ci;
        let d0 = ((b * H + i) * W + sw * ua + rx - pL) * Ci;
        for (let u = 0; u < nu; u++, s0 += Ci, d0 += sw * Ci) dst.set(src.subarray(s0, s0 + Ci), d0);
      }
    }
    release(backend, conv);
  }
  return out;
}

/** {@link subFilter} cut from w [KH, KW, Ci, Co] itself, one SIMD block transpose per tap. */
function subFilterDirect(backend: BackendWasm, filter: TensorInfo, ry: number, rx: number, sh: number, sw: number, Mh: number, Mw: number): TensorInfo {
  const [, , Ci, Co] = filter.shape;
  const f = backend.makeOutput([Mh, Mw, Co, Ci], 'float32');
  for (let jy = 0; jy < Mh; jy++) {
    for (let jx = 0; jx < Mw; jx++) {
      transposeFilterTap(backend, filter, ry + sh * (Mh - 1 - jy), rx + sw * (Mw - 1 - jx), f, jy * Mw + jx);
    }
  }
  return f;
}

/**
 * Phase (ry, rx)'s flipped sub-filter [Mh, Mw, Co, Ci] from w^T [KH, KW, Co, Ci]:
 * F[jy, jx] = w^T[ry + sh*(Mh-1-jy), rx + sw*(Mw-1-jx)], whole [Co, Ci] blocks.
 */
function subFilter(
  backend: BackendWasm,
  wt: TensorInfo,
  KW: number,
  Ci: number,
  Co: number,
  ry: number,
  rx: number,
  sh: number,
  sw: number,
  Mh: number,
  Mw: number,
): TensorInfo {
  const f = backend.makeOutput([Mh, Mw, Co, Ci], 'float32');
  const src = heapF32(backend, wt);
  const dst = heapF32(backend, f);
  const block = Co * Ci;
  for (let jy = 0; jy < Mh; jy++) {
    const kh = ry + sh * (Mh - 1 - jy);
    for (let jx = 0; jx < Mw; jx++) {
      const kw = rx + sw * (Mw - 1 - jx);
      const from = (kh * KW + kw) * block;
      dst.set(src.subarray(from, from + block), (jy * Mw + jx) * block);
    }
  }
  return f;
}

/** The flipped, transposed filter F [KH, KW, Co, Ci]: F[kh, kw] = w^T[KH-1-kh, KW-1-kw], whole [Co, Ci] blocks. */
function flippedFilter(backend: BackendWasm, filter: TensorInfo, KH: number, KW: number, Ci: number, Co: number): TensorInfo {
  const fast = transposeFilter(backend, filter, true);
  if (fast) return fast;
  const wt = wasmOp(backend, 'Transpose', { x: filter }, { perm: [0, 1, 3, 2] });
  const f = backend.makeOutput([KH, KW, Co, Ci], 'float32');
  const src = heapF32(backend, wt);
  const dst = heapF32(backend, f);
  const block = Co * Ci;
  for (let kh = 0; kh < KH; kh++) {
    for (let kw = 0; kw < KW; kw++) {
      const from = (kh * KW + kw) * block;
      dst.set(src.subarray(from, from + block), ((KH - 1 - kh) * KW + (KW - 1 - kw)) * block);
    }
  }
  release(backend, wt);
  return f;
}

/** Registration record of our wasm `Conv2DBackpropInput` kernel (replaces the bundled one). */
export const conv2DBackpropInputConfig: KernelConfig = {
  kernelName: Conv2DBackpropInput,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropInput as unknown as KernelFunc,
};
