import { registerKernel, getKernel, type KernelConfig, type KernelFunc, type TensorInfo, type KernelBackend } from '@tensorflow/tfjs-core';
import { typedIO } from './typed-io.ts';
import { wasmHeap, type WasmHeap } from './simd.ts';

/**
 * Fused BatchNorm training kernels over the channel (last) axis, for the wasm and cpu backends,
 * each one JS pass family over the data instead of ~10 (forward) and ~12 (backward) tfjs ops:
 *
 * - `BenBatchNormTrain`: inputs x [..., C], gamma [C], beta [C]; attr epsilon. Outputs
 *   y = gamma * (x - mean) * invStd + beta, mean [C], variance [C] (biased), invStd [C].
 * - `BenBatchNormTrainGrad`: inputs dy, x, mean, invStd, gamma; outputs dx, dgamma, dbeta with
 *   dx = gamma * invStd / N * (N dy - sum(dy) - xhat * sum(dy * xhat)) (Ioffe & Szegedy 2015).
 * Per-channel sums are accumulated in float64. On wasm with C a multiple of 4 the passes run as
 * SIMD loops on the heap (simd.ts: sums in f32 over blocks of 32 rows, then float64); otherwise
 * as JS loops.
 */

/** Per-channel scratch on the wasm heap: `f32` arrays then `f64` arrays of C values each. */
function scratch(heap: WasmHeap, C: number, f32s: number, f64s: number) {
  const ptr = heap.malloc((f32s * 4 + f64s * 8) * C + 16);
  const base = (ptr + 15) & ~15;
  const f32 = Array.from({ length: f32s }, (_, k) => base + k * 4 * C);
  const f64 = Array.from({ length: f64s }, (_, k) => base + f32s * 4 * C + k * 8 * C);
  return { ptr, f32, f64 };
}

function bnTrainSimd(heap: WasmHeap, x: TensorInfo, gamma: TensorInfo, beta: TensorInfo, epsilon: number, outs: TensorInfo[], n: number, C: number): void {
  const s = scratch(heap, C, 4, 2); // shift, P, Q, R; sum, sq
  const [SH, P, Q, R] = s.f32;
  const [SUM, SQ] = s.f64;
  const xp = heap.offset(x.dataId);
  const [mv, vv, iv] = outs.slice(1).map((t) => heap.f32(heap.offset(t.dataId), C));
  const xv = heap.f32(xp, n * C);
  const [gv, bv] = [gamma, beta].map((t) => heap.f32(heap.offset(t.dataId), C));
  // Moments around the first pixel of each channel (see the JS path).
  const sh = heap.f32(SH, C);
  sh.set(xv.subarray(0, C));
  heap.f64(SUM, C).fill(0);
  heap.f64(SQ, C).fill(0);
  heap.simd.moments(xp, xp, n, C, SH, SH, SUM, SQ);
  const [sum, sq] = [heap.f64(SUM, C), heap.f64(SQ, C)];
  const [pv, qv, rv] = [heap.f32(P, C), heap.f32(Q, C), heap.f32(R, C)];
  for (let c = 0; c < C; c++) {
    const m = sum[c] / n;
    mv[c] = sh[c] + m;
    vv[c] = Math.max(0, sq[c] / n - m * m);
    iv[c] = 1 / Math.sqrt(vv[c] + epsilon);
    pv[c] = gv[c] * iv[c];
    qv[c] = 0;
    rv[c] = bv[c] - mv[c] * pv[c];
  }
  heap.simd.affine2(xp, xp, heap.offset(outs[0].dataId), n, C, P, Q, R);
  heap.free(s.ptr);
}

function bnTrainGradSimd(heap: WasmHeap, ins: Record<string, TensorInfo>, outs: TensorInfo[], n: number, C: number): void {
  const { dy, x, mean, invStd, gamma } = ins;
  const s = scratch(heap, C, 4, 2); // zeros, A, Cc, Bc; sdy, sdyxc
  const [Z, A, CC, BC] = s.f32;
  const [SDY, SDYX] = s.f64;
  const [mv, iv, gv] = [mean, invStd, gamma].map((t) => heap.f32(heap.offset(t.dataId), C));
  heap.f32(Z, C).fill(0);
  heap.f64(SDY, C).fill(0);
  heap.f64(SDYX, C).fill(0);
  const dyp = heap.offset(dy.dataId);
  const xp = heap.offset(x.dataId);
  heap.simd.moments(dyp, xp, n, C, Z, heap.offset(mean.dataId), SDY, SDYX); // sum dy, sum dy (x - mean)
  const [sdy, sdyxc] = [heap.f64(SDY, C), heap.f64(SDYX, C)];
  const [dgv, dbv] = [outs[1], outs[2]].map((t) => heap.f32(heap.offset(t.dataId), C));
  const [av, cv, bcv] = [heap.f32(A, C), heap.f32(CC, C), heap.f32(BC, C)];
  for (let c = 0; c < C; c++) {
    const sdyx = sdyxc[c] * iv[c];
    dbv[c] = sdy[c];
    dgv[c] = sdyx;
    // dx = k (dy - sdy/n - (x - m) iv sdyx/n) = k dy + cc x + bc, k = gamma iv.
    const k = gv[c] * iv[c];
    const t = (k * iv[c] * sdyx) / n;
    av[c] = k;
    cv[c] = -t;
    bcv[c] = -(k * sdy[c]) / n + mv[c] * t;
  }
  heap.simd.affine2(dyp, xp, heap.offset(outs[0].dataId), n, C, A, CC, BC);
  heap.free(s.ptr);
}

function bnTrain(args: { inputs: Record<string, TensorInfo>; backend: KernelBackend; attrs: { epsilon: number } }): TensorInfo[] {
  const { x, gamma, beta } = args.inputs;
  const C = x.shape[x.shape.length - 1];
  const n = x.shape.reduce((a, c) => a * c, 1) / C;
  const { make, view } = typedIO(args.backend);
  const outs = make([x.shape, [C], [C], [C]]);
  const heap = C % 4 === 0 && n > 0 ? wasmHeap(args.backend) : undefined;
  if (heap) {
    bnTrainSimd(heap, x, gamma, beta, args.attrs.epsilon, outs, n, C);
    return outs;
  }
  const [xv, gv, bv] = [view(x), view(gamma), view(beta)];
  const [yv, mv, vv, iv] = outs.map(view);
  // One pass for both moments, around a per-channel shift (the first pixel) so that
  // var = E[(x-k)^2] - E[x-k]^2 cancels no large means; float64 accumulators.
  const shift0 = new Float64Array(C);
  for (let c = 0; c < C; c++) shift0[c] = n > 0 ? xv[c] : 0;
  const sum = new Float64Array(C);
  const sq = new Float64Array(C);
  for (let i = 0, p = 0; i < n; i++) {
    for (let c = 0; c < C; c++, p++) {
      const d = xv[p] - shift0[c];
      sum[c] += d;
      sq[c] += d * d;
    }
  }
  for (let c = 0; c < C; c++) {
    const m = sum[c] / n;
    mv[c] = shift0[c] + m;
    sq[c] = Math.max(0, sq[c] / n - m * m);
  }
  const scale = new Float32Array(C);
  const shift = new Float32Array(C);
  for (let c = 0; c < C; c++) {
    vv[c] = sq[c];
    iv[c] = 1 / Math.sqrt(vv[c] + args.attrs.epsilon);
    scale[c] = gv[c] * iv[c];
    shift[c] = bv[c] - mv[c] * scale[c];
  }
  for (let i = 0, p = 0; i < n; i++) for (let c = 0; c < C; c++, p++) yv[p] = xv[p] * scale[c] + shift[c];
  return outs;
}

function bnTrainGrad(args: { inputs: Record<string, TensorInfo>; backend: KernelBackend }): TensorInfo[] {
  const { dy, x, mean, invStd, gamma } = args.inputs;
  const C = x.shape[x.shape.length - 1];
  const n = x.shape.reduce((a, c) => a * c, 1) / C;
  const { make, view } = typedIO(args.backend);
  const outs = make([x.shape, [C], [C]]);
  const heap = C % 4 === 0 && n > 0 ? wasmHeap(args.backend) : undefined;
  if (heap) {
    bnTrainGradSimd(heap, args.inputs, outs, n, C);
    return outs;
  }
  const [dyv, xv, mv, iv, gv] = [view(dy), view(x), view(mean), view(invStd), view(gamma)];
  const [dxv, dgv, dbv] = outs.map(view);
  const sdy = new Float64Array(C);
  const sdyx = new Float64Array(C);
  for (let i = 0, p = 0; i < n; i++) {
    for (let c = 0; c < C; c++, p++) {
      const g = dyv[p];
      sdy[c] += g;
      sdyx[c] += g * (xv[p] - mv[c]) * iv[c];
    }
  }
  const a = new Float32Array(C);
  const bcoef = new Float32Array(C);
  const k = new Float32Array(C);
  for (let c = 0; c < C; c++) {
    dbv[c] = sdy[c];
    dgv[c] = sdyx[c];
    k[c] = gv[c] * iv[c]; // dx = k * (dy - sdy/n - xhat * sdyx/n)
    a[c] = sdy[c] / n;
    bcoef[c] = sdyx[c] / n;
  }
  for (let i = 0, p = 0; i < n; i++) {
    for (let c = 0; c < C; c++, p++) {
      const xhat = (xv[p] - mv[c]) * iv[c];
      dxv[p] = k[c] * (dyv[p] - a[c] - xhat * bcoef[c]);
    }
  }
  return outs;
}

/** Kernel names of the fused BatchNorm training pair. */
export const BN_TRAIN = 'BenBatchNormTrain';
export const BN_TRAIN_GRAD = 'BenBatchNormTrainGrad';

/** Registration records for wasm and cpu. */
export const batchNormTrainConfigs: KernelConfig[] = ['wasm', 'cpu'].flatMap((backendName) => [
  { kernelName: BN_TRAIN, backendName, kernelFunc: bnTrain as unknown as KernelFunc },
  { kernelName: BN_TRAIN_GRAD, backendName, kernelFunc: bnTrainGrad as unknown as KernelFunc },
]);

/** Registers the fused BatchNorm kernels (idempotent). */
export function registerBatchNormTrainKernels(): void {
  for (const k of batchNormTrainConfigs) if (!getKernel(k.kernelName, k.backendName)) registerKernel(k);
}
