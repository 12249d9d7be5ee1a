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

/**
 * Input gradient of a 2-D convolution through one XNNPACK convolution (the bundled wasm kernel
 * is a scalar loop, ~10x slower than the forward conv).
 *
 * Stride s is handled by polyphase decomposition instead of zero insertion: writing
 * i + p = s*q + r (0 <= r < s), the gradient dx[i] = sum_m dy[q-m] * w[r + s*m] is, for each
 * phase r, a stride-1 correlation of dy with the flipped sub-filter w[r], w[r+s], ... of
 * M = ceil(K/s) taps. All s*s phases (rows x columns) become the output channels of a single
 * convolution with filter [Mh, Mw, Co, s*s*Ci]; DepthToSpace interleaves the phases back into
 * rows and columns. No multiply touches an inserted zero (zero insertion wastes s*s of them),
 * and for s = 1 it is the usual flipped, transposed filter.
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
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: Ci, outChannels: Co } = ci;
  const { outHeight: Ho, outWidth: Wo, filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = ci;
  const { top: pT, left: pL } = ci.padInfo;
  const Mh = Math.ceil(KH / sh);
  const Mw = Math.ceil(KW / sw);
  const S = sh * sw;

  const f = phaseFilter(backend, filter, KH, KW, Ci, Co, sh, sw, Mh, Mw);

  // Output rows q in [q0, q1) of the phase grid cover input rows 0..H-1 (see the doc comment).
  const q0h = Math.floor(pT / sh);
  const q1h = Math.ceil((H + pT) / sh);
  const q0w = Math.floor(pL / sw);
  const q1w = Math.ceil((W + pL) / sw);
  const padTop = Mh - 1 - q0h;
  const padBottom = q1h - Ho;
  const padLeft = Mw - 1 - q0w;
  const padRight = q1w - Wo;
  // Negative padding means dy rows/columns that reach no input pixel: crop them instead.
  const cutT = Math.max(0, -padTop);
  const cutL = Math.max(0, -padLeft);
  const dyc = cropNHWC(
    backend,
    dy,
    cutT,
    cutL,
    Ho - cutT - Math.max(0, -padBottom),
    Wo - cutL - Math.max(0, -padRight),
  );
  const conv = wasmOp(
    backend,
    'Conv2D',
    { x: dyc, filter: f },
    {
      strides: [1, 1],
      dilations: [1, 1],
      pad: [
        [0, 0],
        [Math.max(0, padTop), Math.max(0, padBottom)],
        [Math.max(0, padLeft), Math.max(0, padRight)],
        [0, 0],
      ],
      dataFormat: 'NHWC',
    },
  );
  release(backend, f);
  if (dyc !== dy) release(backend, dyc);
  const offT = pT - sh * q0h;
  const offL = pL - sw * q0w;
  if (S === 1) {
    const out = cropNHWC(backend, conv, offT, offL, H, W);
    if (out !== conv) release(backend, conv);
    return out;
  }
  if (sh === sw) {
    const d2s = wasmOp(backend, 'DepthToSpace', { x: conv }, { blockSize: sh, dataFormat: 'NHWC' });
    release(backend, conv);
    const out = cropNHWC(backend, d2s, offT, offL, H, W);
    if (out !== d2s) release(backend, d2s);
    return out;
  }
  const out = interleavePhases(backend, conv, B, H, W, Ci, sh, sw, offT, offL);
  release(backend, conv);
  return out;
}

/**
 * The phase filter F [Mh, Mw, Co, sh*sw*Ci]:
 * F[jy, jx, co, (ry*sw + rx)*Ci + ci] = w[ry + sh*(Mh-1-jy), rx + sw*(Mw-1-jx), ci, co] (0 outside).
 * Built from the (XNNPACK) transpose w^T [KH, KW, Co, Ci] by copying contiguous Ci-runs.
 */
function phaseFilter(
  backend: BackendWasm,
  filter: TensorInfo,
  KH: number,
  KW: number,
  Ci: number,
  Co: number,
  sh: number,
  sw: number,
  Mh: number,
  Mw: number,
): TensorInfo {
  const wt = wasmOp(backend, 'Transpose', { x: filter }, { perm: [0, 1, 3, 2] });
  const S = sh * sw;
  const f = backend.makeOutput([Mh, Mw, Co, S * Ci], 'float32');
  const src = heapF32(backend, wt);
  const dst = heapF32(backend, f);
  const block = Co * Ci;
  if (S === 1) {
    // Plain spatial flip: whole [Co, Ci] blocks move.
    for (let kh = 0; kh < KH; kh++) {
      for (let kw = 0; kw < KW; kw++) {
        const from = (kh * KW + kw) * block;
        dst.set(src.subarray(from, from + block), ((KH - 1 - kh) * KW + (KW - 1 - kw)) * block);
      }
    }
  } else {
    dst.fill(0);
    for (let jy = 0; jy < Mh; jy++) {
      for (let jx = 0; jx < Mw; jx++) {
        for (let ry = 0; ry < sh; ry++) {
          const kh = ry + sh * (Mh - 1 - jy);
          if (kh >= KH) continue;
          for (let rx = 0; rx < sw; rx++) {
            const kw = rx + sw * (Mw - 1 - jx);
            if (kw >= KW) continue;
            const srcBase = (kh * KW + kw) * block;
            const dstBase = (jy * Mw + jx) * Co * S * Ci + (ry * sw + rx) * Ci;
            for (let co = 0; co < Co; co++) {
              const s0 = srcBase + co * Ci;
              dst.set(src.subarray(s0, s0 + Ci), dstBase + co * S * Ci);
            }
          }
        }
      }
    }
  }
  release(backend, wt);
  return f;
}

/** Interleaves phase channels into space when the two strides differ (DepthToSpace cannot). */
function interleavePhases(
  backend: BackendWasm,
  conv: TensorInfo,
  B: number,
  H: number,
  W: number,
  Ci: number,
  sh: number,
  sw: number,
  offT: number,
  offL: number,
): TensorInfo {
  const [, Qh, Qw, C] = conv.shape;
  const out = backend.makeOutput([B, H, W, Ci], 'float32');
  const src = heapF32(backend, conv);
  const dst = heapF32(backend, out);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < H; i++) {
      const yy = i + offT;
      const t = Math.floor(yy / sh);
      const ry = yy - t * sh;
      for (let j = 0; j < W; j++) {
        const xx = j + offL;
        const u = Math.floor(xx / sw);
        const rx = xx - u * sw;
        const s0 = ((b * Qh + t) * Qw + u) * C + (ry * sw + rx) * Ci;
        dst.set(src.subarray(s0, s0 + Ci), ((b * H + i) * W + j) * Ci);
      }
    }
  }
  return out;
}

/** Registration record of our wasm `Conv2DBackpropInput` kernel (replaces the bundled one). */
export const conv2DBackpropInputConfig: KernelConfig = {
  kernelName: Conv2DBackpropInput,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropInput as unknown as KernelFunc,
};
