import { getKernel, registerKernel, type KernelBackend, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import { typedIO } from './typed-io.ts';
import { wasmHeap } from './simd.ts';

/** Attributes of {@link ADAM_UPDATE}: the step's scalars, folded on the host. */
export interface AdamUpdateAttrs {
  /** First-moment decay beta1. */
  beta1: number;
  /** Second-moment decay beta2. */
  beta2: number;
  /** lr * sqrt(1 - beta2^t) / (1 - beta1^t): the bias corrections folded into the step. */
  stepSize: number;
  /** epsilon * sqrt(1 - beta2^t), so that the update is m_hat / (sqrt(v_hat) + epsilon) exactly. */
  epsHat: number;
  /** lr * weightDecay for decoupled decay (AdamW), 0 for none. */
  decay: number;
}

/**
 * One AdamW update (Kingma & Ba 2015; decoupled decay, Loshchilov & Hutter 2019) of a parameter
 * in a single pass, instead of ~10 elementwise tfjs ops each reading and writing the whole tensor.
 * Inputs p, g, m, v (same shape); outputs p', m', v':
 *   m' = beta1 m + (1 - beta1) g,  v' = beta2 v + (1 - beta2) g^2,
 *   p' = p - stepSize m' / (sqrt(v') + epsHat) - decay p.
 * On wasm the bulk runs as a f32x4 SIMD loop on the heap (simd.ts; float32 arithmetic),
 * elsewhere, and for the last n mod 4 values, as a JS loop in float64 rounded on store.
 */
function adamUpdate(args: { inputs: Record<string, TensorInfo>; backend: KernelBackend; attrs: AdamUpdateAttrs }): TensorInfo[] {
  const { p, g, m, v } = args.inputs;
  const { beta1, beta2, stepSize, epsHat, decay } = args.attrs;
  const { make, view } = typedIO(args.backend);
  const outs = make([p.shape, p.shape, p.shape]);
  const c1 = 1 - beta1;
  const c2 = 1 - beta2;
  const keep = 1 - decay;
  const heap = wasmHeap(args.backend);
  const n = p.shape.reduce((a, b) => a * b, 1);
  let done = 0;
  if (heap) {
    const [pp, gp, mp, vp, po, mo, vo] = [p, g, m, v, ...outs].map((t) => heap.offset(t.dataId));
    done = n - (n % 4);
    heap.simd.adam(pp, gp, mp, vp, po, mo, vo, done / 4, beta1, beta2, c1, c2, stepSize, epsHat, keep);
  }
  const [pv, gv, mv, vv] = [view(p), view(g), view(m), view(v)];
  const [po, mo, vo] = outs.map(view);
  for (let i = done; i < n; i++) {
    const gi = gv[i];
    const mi = beta1 * mv[i] + c1 * gi;
    const vi = beta2 * vv[i] + c2 * gi * gi;
    mo[i] = mi;
    vo[i] = vi;
    po[i] = keep * pv[i] - (stepSize * mi) / (Math.sqrt(vi) + epsHat);
  }
  return outs;
}

/** Kernel name of the fused AdamW update. */
export const ADAM_UPDATE = 'BenAdamUpdate';

/** Registration records for wasm and cpu. */
export const adamUpdateConfigs: KernelConfig[] = ['wasm', 'cpu'].map((backendName) => ({
  kernelName: ADAM_UPDATE,
  backendName,
  kernelFunc: adamUpdate as unknown as KernelFunc,
}));

/** Registers the fused AdamW update kernels (idempotent). */
export function registerAdamUpdateKernels(): void {
  for (const k of adamUpdateConfigs) if (!getKernel(k.kernelName, k.backendName)) registerKernel(k);
}
