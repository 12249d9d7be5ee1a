import { getKernel, registerKernel, type KernelBackend, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import { typedIO } from './typed-io.ts';

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
 * Arithmetic in float64 per element, rounded to float32 on store.
 */
function adamUpdate(args: { inputs: Record<string, TensorInfo>; backend: KernelBackend; attrs: AdamUpdateAttrs }): TensorInfo[] {
  const { p, g, m, v } = args.inputs;
  const { beta1, beta2, stepSize, epsHat, decay } = args.attrs;
  const { make, view } = typedIO(args.backend);
  const outs = make([p.shape, p.shape, p.shape]);
  const [pv, gv, mv, vv] = [view(p), view(g), view(m), view(v)];
  const [po, mo, vo] = outs.map(view);
  const c1 = 1 - beta1;
  const c2 = 1 - beta2;
  const keep = 1 - decay;
  for (let i = 0; i < pv.length; i++) {
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
