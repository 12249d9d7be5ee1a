import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { wasmHeap } from './simd.ts';
import { heapF32 } from './wasm-ops.ts';

/**
 * The transposes our conv backprop kernels need, without tfjs's `Transpose` (a scalar loop whose
 * strided writes miss the cache on every element, ~5 ns per value on large tensors): SIMD 4x4
 * tiles (simd.ts) where the transposed dimensions are multiples of 4, contiguous-run copies
 * where whole channel vectors move. Each returns undefined when it does not apply (the caller
 * then uses tfjs's Transpose); results are new heap tensors the caller releases.
 */

/** [B, H, W, C] -> [C, H, W, B] (the batch becomes the channels); B and C multiples of 4. */
export function batchToChannels(backend: BackendWasm, x: TensorInfo): TensorInfo | undefined {
  const [B, H, W, C] = x.shape;
  if (B % 4 !== 0 || C % 4 !== 0) return undefined;
  const heap = wasmHeap(backend);
  if (!heap) return undefined;
  const out = backend.makeOutput([C, H, W, B], 'float32');
  const P = H * W;
  // For each pixel p: the [B, C] block (row stride P*C) -> [C, B] (row stride P*B).
  heap.simd.transpose(heap.offset(x.dataId), heap.offset(out.dataId), B, C, P * C, P * B, P, C, B);
  return out;
}

/** [A, Bd, run] -> [Bd, A, run] by moving contiguous runs (no SIMD needed). */
export function swapOuter(backend: BackendWasm, t: TensorInfo, A: number, Bd: number, run: number, outShape: number[]): TensorInfo {
  const out = backend.makeOutput(outShape, 'float32');
  const heap = heapF32(backend, out); // a view of the whole heap from `out`'s start
  const whole = new Float32Array(heap.buffer);
  const src = heapF32(backend, t).byteOffset / 4;
  const dst = heap.byteOffset / 4;
  for (let a = 0; a < A; a++) {
    for (let b = 0; b < Bd; b++) {
      const from = src + (a * Bd + b) * run;
      whole.copyWithin(dst + (b * A + a) * run, from, from + run);
    }
  }
  return out;
}

/**
 * A filter w [KH, KW, Ci, Co] as [KH, KW, Co, Ci], spatially flipped when `flip`
 * (F[kh, kw] = w[KH-1-kh, KW-1-kw]^T: the input gradient's filter); Ci and Co multiples of 4.
 */
export function transposeFilter(backend: BackendWasm, w: TensorInfo, flip: boolean): TensorInfo | undefined {
  const [KH, KW, Ci, Co] = w.shape;
  if (Ci % 4 !== 0 || Co % 4 !== 0) return undefined;
  const heap = wasmHeap(backend);
  if (!heap) return undefined;
  const out = backend.makeOutput([KH, KW, Co, Ci], 'float32');
  const blk = Ci * Co;
  const KK = KH * KW;
  const dst = heap.offset(out.dataId) + (flip ? (KK - 1) * blk * 4 : 0);
  heap.simd.transpose(heap.offset(w.dataId), dst, Ci, Co, Co, Ci, KK, blk, flip ? -blk : blk);
  return out;
}

/** One [Ci, Co] block of w (at tap kh, kw) transposed into block `slot` of `dst` [*, *, Co, Ci]. */
export function transposeFilterTap(backend: BackendWasm, w: TensorInfo, kh: number, kw: number, dst: TensorInfo, slot: number): boolean {
  const [, KW, Ci, Co] = w.shape;
  if (Ci % 4 !== 0 || Co % 4 !== 0) return false;
  const heap = wasmHeap(backend);
  if (!heap) return false;
  const blk = Ci * Co;
  heap.simd.transpose(heap.offset(w.dataId) + (kh * KW + kw) * blk * 4, heap.offset(dst.dataId) + slot * blk * 4, Ci, Co, Co, Ci, 1, 0, 0);
  return true;
}

/** t [R, C] (any shape of that size) -> [C, R]; R and C multiples of 4. */
export function transpose2D(backend: BackendWasm, t: TensorInfo, R: number, C: number): TensorInfo | undefined {
  if (R % 4 !== 0 || C % 4 !== 0) return undefined;
  const heap = wasmHeap(backend);
  if (!heap) return undefined;
  const out = backend.makeOutput([C, R], 'float32');
  heap.simd.transpose(heap.offset(t.dataId), heap.offset(out.dataId), R, C, C, R, 1, 0, 0);
  return out;
}
