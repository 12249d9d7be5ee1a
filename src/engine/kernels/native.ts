import {
  backend_util,
  BatchMatMul,
  Conv2D,
  Conv2DBackpropFilter,
  Conv2DBackpropInput,
  FusedConv2D,
  getKernel,
  registerKernel,
  unregisterKernel,
  util,
  _FusedMatMul,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { NativeAddon } from '../native.ts';
import { heapF32 } from './wasm-ops.ts';
import { nativeTrainingWraps } from './native-train.ts';
import { engineEnvironment } from '../flags.ts';

/**
 * Kernels of the wasm backend that run on the native engine (oneDNN): each reads its inputs
 * and writes its output in place on the wasm heap (the addon gets typed-array views of it), so
 * tensors stay where they are and every other kernel keeps working on them. Each wraps the
 * kernel registered before it and falls back to it for what it does not cover (NCHW, other
 * dtypes or activations, shapes oneDNN refuses).
 */

/** [N IH IW IC OH OW OC KH KW SH SW DH DW PT PL PB PR act hasBias] for the addon's conv calls. */
export function convParams(ci: backend_util.Conv2DInfo, act = 0, hasBias = false): Int32Array {
  const p = ci.padInfo;
  return Int32Array.from([
    ci.batchSize,
    ci.inHeight,
    ci.inWidth,
    ci.inChannels,
    ci.outHeight,
    ci.outWidth,
    ci.outChannels,
    ci.filterHeight,
    ci.filterWidth,
    ci.strideHeight,
    ci.strideWidth,
    ci.dilationHeight,
    ci.dilationWidth,
    p.top,
    p.left,
    p.bottom,
    p.right,
    act,
    hasBias ? 1 : 0,
  ]);
}

type Args = { inputs: Record<string, TensorInfo>; backend: BackendWasm; attrs: NamedAttrMap };

const f32 = (...ts: (TensorInfo | undefined)[]) => ts.every((t) => !t || t.dtype === 'float32');

/** Activations the addon fuses into conv and matmul (others fall back). */
const ACT: Record<string, number> = { linear: 0, relu: 1 };

/** Runs `native`; on an error from oneDNN frees the output and returns undefined (fall back). */
function attempt(backend: BackendWasm, out: TensorInfo, native: () => void): TensorInfo | undefined {
  try {
    native();
    return out;
  } catch (e) {
    backend.disposeData(out.dataId);
    if (!warned.has((e as Error).message)) {
      warned.add((e as Error).message);
      process.emitWarning(`native kernel fell back to wasm: ${(e as Error).message}`);
    }
    return undefined;
  }
}
const warned = new Set<string>();

function conv2dInfo(x: TensorInfo, filter: TensorInfo, attrs: NamedAttrMap): backend_util.Conv2DInfo {
  const { strides, pad, dataFormat, dilations, dimRoundingMode } = attrs as unknown as {
    strides: number | [number, number];
    pad: 'valid' | 'same' | number | backend_util.ExplicitPadding;
    dataFormat: 'NHWC' | 'NCHW';
    dilations: number | [number, number];
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
  };
  return backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filter.shape as [number, number, number, number],
    strides,
    dilations ?? 1,
    pad,
    dimRoundingMode,
    false,
    backend_util.convertConv2DDataFormat(dataFormat ?? 'NHWC'),
  );
}

function makeConvForward(addon: NativeAddon, fused: boolean) {
  return (args: Args, fallback: KernelFunc): TensorInfo | TensorInfo[] => {
    const { inputs, backend, attrs } = args;
    const { x, filter, bias, preluActivationWeights } = inputs;
    const act = fused ? ACT[(attrs.activation as string) ?? 'linear'] : 0;
    const ok = x.shape.length === 4 && f32(x, filter, bias) && act !== undefined && !preluActivationWeights;
    if (ok) {
      const ci = conv2dInfo(x, filter, attrs);
      const biasOk = !bias || util.sizeFromShape(bias.shape) === ci.outChannels;
      if (ci.dataFormat === 'channelsLast' && biasOk) {
        const out = backend.makeOutput([ci.batchSize, ci.outHeight, ci.outWidth, ci.outChannels], 'float32');
        const r = attempt(backend, out, () =>
          addon.convForward(convParams(ci, act, !!bias), heapF32(backend, x), heapF32(backend, filter), bias ? heapF32(backend, bias) : null, heapF32(backend, out)),
        );
        if (r) return r;
      }
    }
    return fallback(args as never);
  };
}

type Shape4 = [number, number, number, number];

/** The attributes both convolution backprops take (tfjs Conv2DBackpropInput / Conv2DBackpropFilter). */
interface BackpropAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function makeConvBackpropInput(addon: NativeAddon) {
  return (args: Args, fallback: KernelFunc): TensorInfo | TensorInfo[] => {
    const { inputs, backend, attrs } = args;
    const { dy, filter } = inputs;
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as unknown as BackpropAttrs & { inputShape: Shape4 };
    if (f32(dy, filter) && (dataFormat ?? 'NHWC') === 'NHWC') {
      const ci = backend_util.computeConv2DInfo(inputShape, filter.shape as Shape4, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
      const out = backend.makeOutput([...inputShape], 'float32');
      const r = attempt(backend, out, () => addon.convBackwardData(convParams(ci), heapF32(backend, dy), heapF32(backend, filter), heapF32(backend, out)));
      if (r) return r;
    }
    return fallback(args as never);
  };
}

function makeConvBackpropFilter(addon: NativeAddon) {
  return (args: Args, fallback: KernelFunc): TensorInfo | TensorInfo[] => {
    const { inputs, backend, attrs } = args;
    const { x, dy } = inputs;
    const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as BackpropAttrs & { filterShape: Shape4 };
    if (f32(x, dy) && (dataFormat ?? 'NHWC') === 'NHWC') {
      const ci = backend_util.computeConv2DInfo(x.shape as Shape4, filterShape, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
      const out = backend.makeOutput([...filterShape], 'float32');
      const r = attempt(backend, out, () => addon.convBackwardWeights(convParams(ci), heapF32(backend, x), heapF32(backend, dy), heapF32(backend, out)));
      if (r) return r;
    }
    return fallback(args as never);
  };
}

/** BatchMatMul / _FusedMatMul on rank-2 or rank-3 operands whose batches match or broadcast from 1. */
function makeMatMul(addon: NativeAddon, fused: boolean) {
  return (args: Args, fallback: KernelFunc): TensorInfo | TensorInfo[] => {
    const { inputs, backend, attrs } = args;
    const { a, b, bias, preluActivationWeights } = inputs;
    const ta = !!attrs.transposeA;
    const tb = !!attrs.transposeB;
    const act = fused ? ACT[(attrs.activation as string) ?? 'linear'] : 0;
    const rank = a.shape.length;
    if ((rank === 2 || rank === 3) && b.shape.length === rank && f32(a, b, bias) && act !== undefined && !preluActivationWeights) {
      const [ba, a1, a2] = rank === 3 ? a.shape : [1, ...a.shape];
      const [bb, b1, b2] = rank === 3 ? b.shape : [1, ...b.shape];
      const M = ta ? a2 : a1;
      const K = ta ? a1 : a2;
      const N = tb ? b1 : b2;
      const Kb = tb ? b2 : b1;
      const batchOk = ba === bb || ba === 1 || bb === 1;
      const biasOk = !bias || util.sizeFromShape(bias.shape) === N;
      if (K === Kb && batchOk && biasOk) {
        const out = backend.makeOutput(rank === 3 ? [Math.max(ba, bb), M, N] : [M, N], 'float32');
        const p = Int32Array.from([ba, bb, M, K, N, ta ? 1 : 0, tb ? 1 : 0, act, bias ? 1 : 0]);
        const r = attempt(backend, out, () => addon.matMul(p, heapF32(backend, a), heapF32(backend, b), bias ? heapF32(backend, bias) : null, heapF32(backend, out)));
        if (r) return r;
      }
    }
    return fallback(args as never);
  };
}

/** kernelFuncs installed by {@link registerNativeKernels}, each with the kernel it falls back to. */
const ours = new Map<unknown, KernelFunc>();

/** The kernel a native wrapper falls back to (undefined when `kernelFunc` is not one of ours). */
export function nativeFallbackOf(kernelFunc: unknown): KernelFunc | undefined {
  return ours.get(kernelFunc);
}

/**
 * Wraps the wasm kernels the native engine covers. Must run after our wasm training kernels are
 * registered (their configs become the fallbacks) and before the wasm backend initialises (the
 * bundled kernels' set-up functions are kept). Idempotent. Returns the kernel names wrapped.
 */
export function registerNativeKernels(addon: NativeAddon): string[] {
  const wrap: [string, (args: Args, fallback: KernelFunc) => TensorInfo | TensorInfo[]][] = [
    [Conv2D, makeConvForward(addon, false)],
    [FusedConv2D, makeConvForward(addon, true)],
    [Conv2DBackpropInput, makeConvBackpropInput(addon)],
    [Conv2DBackpropFilter, makeConvBackpropFilter(addon)],
    [BatchMatMul, makeMatMul(addon, false)],
    [_FusedMatMul, makeMatMul(addon, true)],
    ...(engineEnvironment().nativeTraining ? nativeTrainingWraps(addon) : []),
  ];
  const names: string[] = [];
  for (const [name, impl] of wrap) {
    const prev = getKernel(name, 'wasm');
    if (!prev) continue;
    names.push(name);
    if (ours.has(prev.kernelFunc)) continue;
    const kernelFunc = ((args: Args) => impl(args, prev.kernelFunc)) as unknown as KernelFunc;
    ours.set(kernelFunc, prev.kernelFunc);
    unregisterKernel(name, 'wasm');
    registerKernel({ ...prev, kernelFunc } as KernelConfig);
  }
  return names;
}
