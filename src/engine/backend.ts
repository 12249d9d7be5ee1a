import * as tf from '@tensorflow/tfjs-core';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { UserError } from '../util/errors.ts';
import { registerGradients } from './gradients.ts';
import { registerTrainingKernels } from './kernels/index.ts';
import { createThreadedWasmBackend, wasmThreadsCount } from './wasm-threads.ts';
import { loadNative, nativeInfo, nativeUnavailableReason, type NativeInfo } from './native.ts';
import { registerNativeKernels } from './kernels/native.ts';
import { engineEnvironment } from './flags.ts';

/** Backends in the order they are tried when the user forces none. */
export const BACKEND_ORDER = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_ORDER)[number];

/** What {@link initBackend} chose and found. */
export interface BackendInfo {
  /** The active tfjs backend name (`tensorflow` for both native packages, `wasm`, `cpu`). */
  backend: string;
  /** Which package provides it. */
  provider: string;
  /** Threads the backend computes with (0: managed by libtensorflow). */
  threads: number;
  /** For wasm: whether SIMD and the multi-threaded build are in use. */
  wasm?: { simd: boolean; threaded: boolean };
  /** The native engine (oneDNN kernels on the wasm heap), when built and loaded. */
  native?: NativeInfo & { kernels: string[] };
  /** Optional native packages found installed (loadable or not). */
  optional: Record<string, 'loaded' | 'installed' | 'not installed' | `failed: ${string}`>;
  /** One-line notices about fallbacks. */
  notices: string[];
}

/**
 * What computes, in a few words for logs and benchmark titles: `native oneDNN 2.6.3 (AVX2, 2
 * threads)` when the native engine runs the kernels (the tfjs backend is then still `wasm`), else
 * the backend and its threads.
 */
export function engineLabel(info: BackendInfo): string {
  if (info.native) return `native ${info.native.library} ${info.native.version} (${info.native.isa}, ${info.native.threads} threads)`;
  return `${info.backend} (${info.threads} threads)`;
}

let current: BackendInfo | undefined;

const require = createRequire(import.meta.url);

function isInstalled(pkg: string): boolean {
  try {
    require.resolve(`${pkg}/package.json`);
    return true;
  } catch {
    return false;
  }
}

/** Options of {@link initBackend}. */
export interface InitBackendOptions {
  /** Force a backend (else `BEN_BACKEND`, else the first that starts in {@link BACKEND_ORDER}). */
  backend?: string;
  /**
   * Compute threads (else `BEN_THREADS`, else the number of CPU cores): the wasm pool's, or with
   * the native engine the native pool's (wasm then gets 1, so the two pools never compete).
   */
  threads?: number;
}

/**
 * Selects and initialises the compute backend: `@tensorflow/tfjs-node-gpu`, `@tensorflow/tfjs-node`,
 * `@tensorflow/tfjs-backend-wasm` (with our training kernels), then `cpu`. A forced choice comes
 * from `requested` or the `BEN_BACKEND` environment variable. A missing or broken native package
 * falls back to the next one with a one-line notice. Also registers tfjs's gradients and our wasm
 * training kernels, so training works on whichever backend starts. Call it (once) before any
 * tensor work; later calls return the same info unless another backend is forced.
 */
export async function initBackend(options?: string | InitBackendOptions): Promise<BackendInfo> {
  const opts: InitBackendOptions = typeof options === 'string' ? { backend: options } : (options ?? {});
  await registerGradients();
  const forced = opts.backend ?? engineEnvironment().backend;
  if (forced && !(BACKEND_ORDER as readonly string[]).includes(forced)) {
    throw new UserError(`Unknown backend "${forced}" (from --backend or BEN_BACKEND). Choose one of: ${BACKEND_ORDER.join(', ')}.`);
  }
  if (current && (!forced || current.provider === providerOf(forced as BackendName))) return current;
  const order: BackendName[] = forced ? [forced as BackendName] : [...BACKEND_ORDER];
  const optional: BackendInfo['optional'] = {};
  const notices: string[] = [];
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    optional[pkg] = isInstalled(pkg) ? 'installed' : 'not installed';
  }
  for (const name of order) {
    const ok = await tryBackend(name, optional, notices, wasmThreadsWanted(opts.threads));
    if (ok) {
      current = { backend: tf.getBackend(), provider: providerOf(name), threads: threadsOf(name), optional, notices };
      if (name === 'wasm') {
        current.wasm = { simd: true, threaded: threadedActive };
        if (nativeActive) {
          current.native = { ...nativeInfo(nativeActive.addon), kernels: nativeActive.kernels };
          current.threads = current.native.threads;
        }
      }
      return current;
    }
    if (forced) throw new UserError(`Backend "${forced}" could not be started: ${notices.at(-1) ?? 'unknown error'}.`);
  }
  throw new Error('No tfjs backend could be initialised (not even cpu).');
}

function providerOf(name: BackendName): string {
  switch (name) {
    case 'tensorflow-gpu':
      return '@tensorflow/tfjs-node-gpu';
    case 'tensorflow':
      return '@tensorflow/tfjs-node';
    case 'wasm':
      return '@tensorflow/tfjs-backend-wasm';
    case 'cpu':
      return '@tensorflow/tfjs-backend-cpu';
  }
}

function threadsOf(name: BackendName): number {
  if (name === 'cpu') return 1;
  if (name === 'wasm') return wasmThreadsCount();
  return 0;
}

function wasmThreadsWanted(requested: number | undefined): number {
  const env = engineEnvironment().threads;
  const n = requested ?? env ?? availableParallelism();
  if (!Number.isInteger(n) || n < 1) {
    throw new UserError(`Invalid thread count "${requested ?? env}" (from threads or BEN_THREADS): use a whole number >= 1.`);
  }
  return n;
}

let threadedActive = false;
let nativeActive: { addon: NonNullable<ReturnType<typeof loadNative>>; kernels: string[] } | undefined;

/**
 * Puts the native engine's kernels on the wasm backend when the addon is built (`BEN_NATIVE=0`
 * turns it off); else a one-line notice. Returns the wasm threads to start: with the native
 * engine the native pool takes all `threads` and wasm runs single-threaded, so that the two
 * spinning pools never share the cores.
 */
function setUpNative(threads: number, notices: string[]): number {
  const addon = loadNative();
  if (!addon) {
    if (engineEnvironment().native) notices.push(`native engine ${nativeUnavailableReason()}; using wasm kernels.`);
    return threads;
  }
  addon.setThreads(threads);
  nativeActive = { addon, kernels: registerNativeKernels(addon) };
  const wasmThreads = engineEnvironment().wasmThreads;
  return Number.isInteger(wasmThreads) && wasmThreads >= 1 ? wasmThreads : 1;
}
let threadedInstalled = false;

/**
 * Makes `tf.setBackend('wasm')` build the multi-threaded backend (see wasm-threads.ts) with
 * `threads` threads; if that fails the stock single-threaded SIMD backend starts instead, with
 * a notice.
 */
function installThreadedWasm(threads: number, notices: string[]): void {
  const stock = tf.findBackendFactory('wasm');
  if (!stock || threads <= 1 || threadedInstalled) return;
  threadedInstalled = true;
  tf.removeBackend('wasm');
  tf.registerBackend(
    'wasm',
    async () => {
      try {
        const b = await createThreadedWasmBackend(threads);
        threadedActive = true;
        return b;
      } catch (e) {
        notices.push(`multi-threaded wasm failed to start (${(e as Error).message.split('\n')[0]}); using 1 thread.`);
        return stock();
      }
    },
    2,
  );
}

/**
 * Runs `start` and removes the process listeners it added: the emscripten glue of both wasm builds
 * re-throws every uncaught error from its own listener, so Node prints a 60 kB line of minified
 * code instead of the error.
 */
async function withoutEmscriptenListeners<T>(start: () => Promise<T>): Promise<T> {
  const ue = process.listeners('uncaughtException');
  const ur = process.listeners('unhandledRejection');
  try {
    return await start();
  } finally {
    for (const l of process.listeners('uncaughtException')) if (!ue.includes(l)) process.removeListener('uncaughtException', l);
    for (const l of process.listeners('unhandledRejection')) if (!ur.includes(l)) process.removeListener('unhandledRejection', l);
  }
}

async function tryBackend(
  name: BackendName,
  optional: BackendInfo['optional'],
  notices: string[],
  threads: number,
): Promise<boolean> {
  const pkg = providerOf(name);
  try {
    if (name === 'tensorflow-gpu' || name === 'tensorflow') {
      if (!isInstalled(pkg)) {
        notices.push(`${pkg} is not installed; install it with \`npm install --no-save ${pkg}@4.22.0\` (needs internet and, for -gpu, CUDA), or leave --backend out to use wasm`);
        return false;
      }
      try {
        await import(pkg);
        optional[pkg] = 'loaded';
      } catch (e) {
        const msg = (e as Error).message.split('\n')[0];
        optional[pkg] = `failed: ${msg}`;
        notices.push(`${pkg} is installed but failed to load (${msg}); falling back.`);
        return false;
      }
      return await tf.setBackend('tensorflow');
    }
    if (name === 'wasm') {
      await import('@tensorflow/tfjs-backend-wasm');
      // Kernel set-up runs when the backend initialises, so ours are registered first.
      registerTrainingKernels();
      installThreadedWasm(setUpNative(threads, notices), notices);
      return await withoutEmscriptenListeners(() => tf.setBackend('wasm'));
    }
    await import('@tensorflow/tfjs-backend-cpu');
    return await tf.setBackend('cpu');
  } catch (e) {
    notices.push(`${pkg}: ${(e as Error).message.split('\n')[0]}`);
    return false;
  }
}
