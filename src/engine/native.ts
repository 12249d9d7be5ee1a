import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { engineEnvironment } from './flags.ts';
import { chooseOpenMpPolicy, type OpenMpPolicy } from './openmp-policy.ts';

/**
 * The optional native CPU engine: an N-API addon (native/, built by `npm run build:native`
 * against Debian's oneDNN) whose kernels run on the wasm backend's own heap (see
 * kernels/native.ts). Nothing here is required: without the built addon every kernel stays wasm.
 */
export interface NativeAddon {
  /** y = act(conv(x, filter) + bias); params: see {@link convParams}. */
  convForward(p: Int32Array, x: Float32Array, filter: Float32Array, bias: Float32Array | null, y: Float32Array): void;
  convBackwardData(p: Int32Array, dy: Float32Array, filter: Float32Array, dx: Float32Array): void;
  convBackwardWeights(p: Int32Array, x: Float32Array, dy: Float32Array, dw: Float32Array): void;
  /** params: [batchA, batchB, M, K, N, transposeA, transposeB, act, hasBias]. */
  matMul(p: Int32Array, a: Float32Array, b: Float32Array, bias: Float32Array | null, c: Float32Array): void;
  /**
   * Exact top-k inner products (knn.cc); params [d, k, candidates, blockQueries, blockRefs, threads,
   * refNormMax]; fills outIdx / outSim [nq, k]; returns [fallbacks, candidates rescored].
   */
  knnSearch(
    queries: Float32Array,
    refs: Float32Array,
    params: Float64Array,
    excludeQuery: Int32Array[],
    excludeRef: Int32Array[],
    outIdx: Int32Array,
    outSim: Float32Array,
  ): [number, number];
  /** Training kernels (train.cc); the last argument holds the sizes and scalars, see kernels/native-train.ts. */
  bnTrain(x: Float32Array, gamma: Float32Array, beta: Float32Array, y: Float32Array, mean: Float32Array, variance: Float32Array, invStd: Float32Array, p: Float64Array): void;
  bnTrainGrad(dy: Float32Array, x: Float32Array, mean: Float32Array, invStd: Float32Array, gamma: Float32Array, dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array, p: Float64Array): void;
  adamUpdate(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, po: Float32Array, mo: Float32Array, vo: Float32Array, q: Float64Array): void;
  reluGrad(dy: Float32Array, x: Float32Array, dx: Float32Array, q: Float64Array): void;
  maxPoolGrad(x: Float32Array, dy: Float32Array, dx: Float32Array, q: Float64Array): void;
  /**
   * Mean softmax cross-entropy + l2/2 |W|^2 of weights w [C, d + 1] on rows z [n, d] (probe.cc);
   * writes the gradient into `grad`; params [n, d, C, l2]. Absent in addons built before it.
   */
  logisticLoss?(w: Float64Array, z: Float64Array, y: Int32Array, grad: Float64Array, params: Float64Array): number;
  info(): { version: string; isa: string; threads: number };
  setThreads(n: number): void;
  setVerbose(on: boolean): void;
}

/** What `ben info` says about the native engine. */
export interface NativeInfo {
  library: string;
  version: string;
  /** Instruction set oneDNN dispatches to (AVX-512, AVX2...). */
  isa: string;
  threads: number;
  /** How its OpenMP threads wait between kernels (see openmp-policy.ts). */
  waitPolicy: string;
  path: string;
}

/** Where `npm run build:native` puts the addon. */
export const NATIVE_ADDON_PATH = fileURLToPath(new URL('../../native/build/Release/ben_native.node', import.meta.url));

let addon: NativeAddon | undefined;
let loadError: string | undefined;
let waitPolicy: OpenMpPolicy | undefined;

/**
 * Loads the addon once; undefined (with {@link nativeUnavailableReason}) when it is not built,
 * fails to load (library missing), or `BEN_NATIVE=0` turns it off.
 */
export function loadNative(): NativeAddon | undefined {
  if (addon || loadError) return addon;
  if (!engineEnvironment().native) {
    loadError = 'turned off by BEN_NATIVE=0';
    return undefined;
  }
  if (!existsSync(NATIVE_ADDON_PATH)) {
    loadError = 'not built (apt-get install libdnnl-dev, then npm run build:native)';
    return undefined;
  }
  // libgomp reads its wait policy when the addon loads it: choose it first (a user's own wins).
  waitPolicy = chooseOpenMpPolicy();
  Object.assign(process.env, waitPolicy.env);
  try {
    addon = createRequire(import.meta.url)(NATIVE_ADDON_PATH) as NativeAddon;
    if (engineEnvironment().nativeVerbose) addon.setVerbose(true);
  } catch (e) {
    loadError = `failed to load (${(e as Error).message.split('\n')[0]})`;
  }
  return addon;
}

/** Why {@link loadNative} gave nothing (undefined when it loaded or was not tried). */
export function nativeUnavailableReason(): string | undefined {
  return loadError;
}

/** Library, version, ISA and threads of the loaded addon. */
export function nativeInfo(a: NativeAddon): NativeInfo {
  const i = a.info();
  return { library: 'oneDNN', version: i.version, isa: i.isa, threads: i.threads, waitPolicy: waitPolicy?.describe ?? 'unknown', path: NATIVE_ADDON_PATH };
}
