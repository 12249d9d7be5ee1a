import { getKernel, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/**
 * Calls a kernel already registered for the wasm backend on raw `TensorInfo`s, outside the
 * engine (no tape, no tensor tracking): how our training kernels reuse the bundled
 * XNNPACK-backed Conv2D, Transpose, DepthToSpace, Slice... The caller disposes what it gets back
 * with {@link release}.
 */
export function wasmOp(
  backend: BackendWasm,
  kernelName: string,
  inputs: Record<string, TensorInfo>,
  attrs: NamedAttrMap = {},
): TensorInfo {
  const k = getKernel(kernelName, 'wasm');
  if (!k) throw new Error(`wasm kernel ${kernelName} is not registered`);
  const out = k.kernelFunc({ inputs, attrs, backend });
  if (Array.isArray(out)) throw new Error(`wasm kernel ${kernelName} returned several outputs`);
  return out;
}

/** Frees intermediate results made by {@link wasmOp} or `backend.makeOutput`. */
export function release(backend: BackendWasm, ...infos: TensorInfo[]): void {
  for (const t of infos) backend.disposeData(t.dataId);
}

/** A float32 view of a tensor's data on the wasm heap (valid until the next heap growth). */
export function heapF32(backend: BackendWasm, t: TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(t) as Float32Array;
}

/**
 * Crops `x` [B, H, W, C] to rows [top, top+h) and columns [left, left+w) (a no-op returning
 * `x` itself when nothing is cut). The caller releases the result only when it differs from x.
 */
export function cropNHWC(backend: BackendWasm, x: TensorInfo, top: number, left: number, h: number, w: number): TensorInfo {
  const [b, hx, wx, c] = x.shape;
  if (top === 0 && left === 0 && h === hx && w === wx) return x;
  return wasmOp(backend, 'Slice', { x }, { begin: [0, top, left, 0], size: [b, h, w, c] });
}
