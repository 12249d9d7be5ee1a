/**
 * The engine's switches, in one typed place. Each names a fast path of ours that benchmarks and
 * tests turn off to compare it with the plain tfjs path; the defaults are the fast paths. They are
 * read when a kernel or layer runs, so a change takes effect at once. The environment variables
 * that choose the engine are read here too, and only here.
 */
export interface EngineFlags {
  /** SIMD wasm loops in the BatchNorm (training and inference) and AdamW kernels. */
  simd: boolean;
  /** GEMM paths of the convolution backprops for big filters over few pixels... */
  gemm: boolean;
  /** ...taken when KH * KW * channels >= gemmRatio * output pixels. */
  gemmRatio: number;
  /** One-pass ReLU gradient kernel (instead of Step, Cast, Multiply). */
  fusedReluGrad: boolean;
  /** Fused BatchNorm training kernels in BEN BatchNorm. */
  fusedBatchNorm: boolean;
  /** No input gradient for a network's first convolution (its input is data). */
  lazyStemConv: boolean;
}

const DEFAULT_FLAGS: Readonly<EngineFlags> = Object.freeze({
  simd: true,
  gemm: true,
  gemmRatio: 16,
  fusedReluGrad: true,
  fusedBatchNorm: true,
  lazyStemConv: true,
});

const flags: EngineFlags = { ...DEFAULT_FLAGS };

/** The current switches (read-only view; change them with {@link setEngineFlags}). */
export function engineFlags(): Readonly<EngineFlags> {
  return flags;
}

/** Changes some switches; returns the previous values of all of them (to restore). */
export function setEngineFlags(patch: Partial<EngineFlags>): EngineFlags {
  const previous = { ...flags };
  Object.assign(flags, patch);
  return previous;
}

/** Runs `fn` with some switches changed, restoring them afterwards (also when `fn` throws). */
export async function withEngineFlags<T>(patch: Partial<EngineFlags>, fn: () => T | Promise<T>): Promise<T> {
  const previous = setEngineFlags(patch);
  try {
    return await fn();
  } finally {
    setEngineFlags(previous);
  }
}

/** The engine choices of the environment (`BEN_*` variables). */
export interface EngineEnvironment {
  /** `BEN_BACKEND`: force a backend (tensorflow, wasm, cpu). */
  backend?: string;
  /** `BEN_THREADS`: threads of the compute pool. */
  threads?: number;
  /** `BEN_NATIVE=0` turns the native engine off. */
  native: boolean;
  /** `BEN_NATIVE_VERBOSE=1`: oneDNN's primitive log. */
  nativeVerbose: boolean;
  /** `BEN_NATIVE_TRAIN=0` keeps the native convolutions but the wasm training kernels (BN, AdamW, ReLU, pooling). */
  nativeTraining: boolean;
  /** `BEN_WASM_THREADS`: wasm worker threads (default 1). */
  wasmThreads: number;
}

/** Reads {@link EngineEnvironment} from `env` (default `process.env`). */
export function engineEnvironment(env: NodeJS.ProcessEnv = process.env): EngineEnvironment {
  return {
    backend: env.BEN_BACKEND || undefined,
    // Validated where the pool is made, so a bad value is an error rather than ignored.
    threads: env.BEN_THREADS ? Number(env.BEN_THREADS) : undefined,
    native: env.BEN_NATIVE !== '0',
    nativeVerbose: env.BEN_NATIVE_VERBOSE === '1',
    nativeTraining: env.BEN_NATIVE_TRAIN !== '0',
    wasmThreads: env.BEN_WASM_THREADS ? Number(env.BEN_WASM_THREADS) : 1,
  };
}
