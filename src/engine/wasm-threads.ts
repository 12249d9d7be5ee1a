import * as tf from '@tensorflow/tfjs-core';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * Multi-threaded tfjs wasm backend for Node.
 *
 * tfjs-backend-wasm 4.22 never uses threads in Node, for three reasons, each worked around here:
 * 1. its `WASM_HAS_MULTITHREAD_SUPPORT` flag is hard-wired to false in Node, so it loads the
 *    single-threaded SIMD binary; we instantiate the threaded SIMD build ourselves;
 * 2. the pthread worker script is handed to emscripten as a `blob:` URL, which Node's
 *    `worker_threads` cannot load; we write it to a real file;
 * 3. even with the 8 pool workers loaded, `init_with_threads_count(n)` caps n at
 *    `emscripten_num_logical_cores() / 2` (a hyper-threading guess in backend.cc), which is 1
 *    on a 2-core machine, so pthreadpool is created with one thread; we answer that import with
 *    2 x the requested threads so the cap lands on the request.
 * The resulting module is wrapped in the package's own `BackendWasm`, so every bundled kernel
 * (and ours) runs unchanged; XNNPACK ops then run on the pthreadpool.
 */

const require = createRequire(import.meta.url);

interface EmscriptenModule {
  cwrap(name: string, ret: string | null, args: string[]): (...a: number[]) => number;
  PThread?: { runningWorkers: { unref(): void }[]; unusedWorkers: { unref(): void }[] };
  tfjs?: Record<string, unknown>;
}
type Factory = (config: Record<string, unknown>) => Promise<EmscriptenModule>;
interface WasmPackage {
  BackendWasm: new (module: EmscriptenModule) => tf.KernelBackend;
  setThreadsCount(n: number): void;
  getThreadsCount(): number;
}

/** Writes the pthread worker script to a real file once (content-addressed, atomic rename). */
function workerScriptPath(pkgDir: string): string {
  const { wasmWorkerContents } = require(join(pkgDir, 'wasm-out/tfjs-backend-wasm-threaded-simd.worker.js')) as {
    wasmWorkerContents: string;
  };
  // The bundled string went through a template literal: re-escape its newlines as tfjs does.
  const text = wasmWorkerContents.replace(/\n/g, '\\n');
  const hash = createHash('sha1').update(text).digest('hex').slice(0, 12);
  const path = join(tmpdir(), `ben-ssl-tfjs-wasm-${hash}.worker.cjs`);
  if (!existsSync(path)) {
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, path);
  }
  return path;
}

/**
 * Creates a `BackendWasm` on the threaded SIMD build with a pthreadpool of `threads` threads
 * (the calling thread included). Resolves to the backend; its `threads` can be read back with
 * the package's `getThreadsCount()`.
 */
export async function createThreadedWasmBackend(threads: number): Promise<tf.KernelBackend> {
  const wasmPkg = require('@tensorflow/tfjs-backend-wasm') as WasmPackage;
  const pkgDir = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  if (typeof SharedArrayBuffer === 'undefined') throw new Error('SharedArrayBuffer is unavailable');
  const factory = require(join(pkgDir, 'wasm-out/tfjs-backend-wasm-threaded-simd.js')) as Factory;
  const workerPath = workerScriptPath(pkgDir);
  const before = {
    uncaughtException: process.listeners('uncaughtException'),
    unhandledRejection: process.listeners('unhandledRejection'),
  };
  const wasmFile = join(pkgDir, 'dist/tfjs-backend-wasm-threaded-simd.wasm');
  const module = await factory({
    locateFile: (p: string, prefix: string) =>
      p.endsWith('.worker.js') ? workerPath : p.endsWith('.wasm') ? wasmFile : prefix + p,
    instantiateWasm: (
      info: { env: Record<string, unknown> },
      receive: (instance: WebAssembly.Instance, module: WebAssembly.Module) => void,
    ) => {
      // backend.cc caps threads at logical_cores / 2: report twice the request (see above).
      info.env.emscripten_num_logical_cores = () => 2 * threads;
      WebAssembly.instantiate(readFileSync(wasmFile), info as WebAssembly.Imports).then(({ instance, module: m }) =>
        receive(instance, m),
      );
      return {};
    },
  });
  // The emscripten glue re-throws every uncaught error from its own listeners, which makes Node
  // print a 60 kB line of minified code instead of the error: remove what it added.
  for (const l of process.listeners('uncaughtException')) {
    if (!before.uncaughtException.includes(l)) process.removeListener('uncaughtException', l);
  }
  for (const l of process.listeners('unhandledRejection')) {
    if (!before.unhandledRejection.includes(l)) process.removeListener('unhandledRejection', l);
  }
  module.tfjs = {
    init: module.cwrap('init', null, []),
    initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
    getThreadsCount: module.cwrap('get_threads_count', 'number', []),
    registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: module.cwrap('dispose_data', null, ['number']),
    dispose: module.cwrap('dispose', null, []),
  };
  wasmPkg.setThreadsCount(threads);
  const backend = new wasmPkg.BackendWasm(module);
  // pthreadpool's workers block forever waiting for work; let the process exit around them.
  for (const w of module.PThread?.runningWorkers ?? []) w.unref();
  for (const w of module.PThread?.unusedWorkers ?? []) w.unref();
  return backend;
}

/** Threads the active wasm backend computes with (1 when it is the single-threaded build). */
export function wasmThreadsCount(): number {
  const wasmPkg = require('@tensorflow/tfjs-backend-wasm') as WasmPackage;
  try {
    return wasmPkg.getThreadsCount();
  } catch {
    return 1;
  }
}
