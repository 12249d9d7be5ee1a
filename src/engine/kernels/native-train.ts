import { backend_util, MaxPoolGrad, type MaxPoolGradAttrs, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { NativeAddon } from '../native.ts';
import { heapF32 } from './wasm-ops.ts';
import { ADAM_UPDATE, registerAdamUpdateKernels, type AdamUpdateAttrs } from './adam-update.ts';
import { BN_TRAIN, BN_TRAIN_GRAD, registerBatchNormTrainKernels } from './batch-norm-train.ts';
import { RELU_GRAD, registerReluGradKernels } from './relu-grad.ts';

/**
 * The training kernels around the convolutions on the native engine (native/train.cc): the fused
 * BatchNorm training pair, the AdamW update, the ReLU gradient and the max-pool gradient, each
 * computing what its wasm kernel computes (same formulas; per-channel sums in float64) on the
 * addon's threads, in place on the wasm heap. With the native engine the wasm backend runs on one
 * thread, so these would otherwise run on one core. Anything not float32 goes to the wasm kernel.
 */

type Args = { inputs: Record<string, TensorInfo>; backend: BackendWasm; attrs: NamedAttrMap };
type Wrap = (args: Args, fallback: (a: Args) => TensorInfo | TensorInfo[]) => TensorInfo | TensorInfo[];

const f32 = (...ts: (TensorInfo | undefined)[]) => ts.every((t) => t && t.dtype === 'float32');
const size = (t: TensorInfo) => t.shape.reduce((a, b) => a * b, 1);

function bnTrain(addon: NativeAddon): Wrap {
  return (args, fallback) => {
    const { inputs, backend, attrs } = args;
    const { x, gamma, beta } = inputs;
    const C = x.shape[x.shape.length - 1];
    const n = size(x) / C;
    if (!f32(x, gamma, beta) || !(n > 0) || size(gamma) !== C || size(beta) !== C) return fallback(args);
    const outs = [backend.makeOutput(x.shape, 'float32'), ...[0, 1, 2].map(() => backend.makeOutput([C], 'float32'))];
    const v = (t: TensorInfo) => heapF32(backend, t);
    addon.bnTrain(v(x), v(gamma), v(beta), v(outs[0]), v(outs[1]), v(outs[2]), v(outs[3]), Float64Array.of(n, C, attrs.epsilon as number));
    return outs;
  };
}

function bnTrainGrad(addon: NativeAddon): Wrap {
  return (args, fallback) => {
    const { inputs, backend } = args;
    const { dy, x, mean, invStd, gamma } = inputs;
    const C = x.shape[x.shape.length - 1];
    const n = size(x) / C;
    if (!f32(dy, x, mean, invStd, gamma) || !(n > 0) || size(dy) !== size(x)) return fallback(args);
    const outs = [backend.makeOutput(x.shape, 'float32'), backend.makeOutput([C], 'float32'), backend.makeOutput([C], 'float32')];
    const v = (t: TensorInfo) => heapF32(backend, t);
    addon.bnTrainGrad(v(dy), v(x), v(mean), v(invStd), v(gamma), v(outs[0]), v(outs[1]), v(outs[2]), Float64Array.of(n, C));
    return outs;
  };
}

function adamUpdate(addon: NativeAddon): Wrap {
  return (args, fallback) => {
    const { inputs, backend } = args;
    const { p, g, m, v } = inputs;
    if (!f32(p, g, m, v)) return fallback(args);
    const a = args.attrs as unknown as AdamUpdateAttrs;
    const outs = [0, 1, 2].map(() => backend.makeOutput(p.shape, 'float32'));
    const h = (t: TensorInfo) => heapF32(backend, t);
    addon.adamUpdate(h(p), h(g), h(m), h(v), h(outs[0]), h(outs[1]), h(outs[2]), Float64Array.of(size(p), a.beta1, a.beta2, a.stepSize, a.epsHat, a.decay));
    return outs;
  };
}

function reluGrad(addon: NativeAddon): Wrap {
  return (args, fallback) => {
    const { inputs, backend } = args;
    const { dy, x } = inputs;
    if (!f32(dy, x)) return fallback(args);
    const out = backend.makeOutput(x.shape, 'float32');
    addon.reluGrad(heapF32(backend, dy), heapF32(backend, x), heapF32(backend, out), Float64Array.of(size(x)));
    return out;
  };
}

function maxPoolGrad(addon: NativeAddon): Wrap {
  return (args, fallback) => {
    const { inputs, backend } = args;
    const { dy, input } = inputs;
    if (!f32(dy, input) || input.shape.length !== 4) return fallback(args);
    const attrs = args.attrs as unknown as MaxPoolGradAttrs;
    const ci = backend_util.computePool2DInfo(input.shape as [number, number, number, number], attrs.filterSize, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
    const out = backend.makeOutput(input.shape, 'float32');
    const p = Float64Array.of(
      ci.batchSize,
      ci.inHeight,
      ci.inWidth,
      ci.inChannels,
      ci.outHeight,
      ci.outWidth,
      ci.filterHeight,
      ci.filterWidth,
      ci.strideHeight,
      ci.strideWidth,
      ci.padInfo.top,
      ci.padInfo.left,
    );
    addon.maxPoolGrad(heapF32(backend, input), heapF32(backend, dy), heapF32(backend, out), p);
    return out;
  };
}

/** [kernel name, wrapper] of the training kernels the native engine takes over (their wasm kernels registered first). */
export function nativeTrainingWraps(addon: NativeAddon): [string, Wrap][] {
  registerBatchNormTrainKernels();
  registerAdamUpdateKernels();
  registerReluGradKernels();
  return [
    [BN_TRAIN, bnTrain(addon)],
    [BN_TRAIN_GRAD, bnTrainGrad(addon)],
    [ADAM_UPDATE, adamUpdate(addon)],
    [RELU_GRAD, reluGrad(addon)],
    [MaxPoolGrad, maxPoolGrad(addon)],
  ];
}
