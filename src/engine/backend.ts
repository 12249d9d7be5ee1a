import * as tf from '@tensorflow/tfjs-core';
import { createRequire } from 'node:module';
import { UserError } from '../util/errors.ts';

/** Backends in the order they are tried when the user forces none. */
export const BACKEND_ORDER = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_ORDER)[number];

/** What {@link initBackend} chose and found. */
export interface BackendInfo {
  /** The active tfjs backend name (`tensorflow` for both native packages, `wasm`, `cpu`). */
  backend: string;
  /** Which package provides it. */
  provider: string;
  /** Threads the backend computes with. */
  threads: number;
  /** Optional native packages found installed (loadable or not). */
  optional: Record<string, 'loaded' | 'installed' | 'not installed' | `failed: ${string}`>;
  /** One-line notices about fallbacks. */
  notices: string[];
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

/**
 * Selects and initialises the compute backend: `@tensorflow/tfjs-node-gpu`, `@tensorflow/tfjs-node`,
 * `@tensorflow/tfjs-backend-wasm` (with our training kernels), then `cpu`. A forced choice comes
 * from `requested` or the `BEN_BACKEND` environment variable. A missing or broken native package
 * falls back to the next one with a one-line notice.
 */
export async function initBackend(requested?: string): Promise<BackendInfo> {
  const forced = requested ?? process.env.BEN_BACKEND;
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
    const ok = await tryBackend(name, optional, notices);
    if (ok) {
      current = { backend: tf.getBackend(), provider: providerOf(name), threads: threadsOf(name), optional, notices };
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
  if (name === 'wasm') return 1;
  return 0;
}

async function tryBackend(name: BackendName, optional: BackendInfo['optional'], notices: string[]): Promise<boolean> {
  const pkg = providerOf(name);
  try {
    if (name === 'tensorflow-gpu' || name === 'tensorflow') {
      if (!isInstalled(pkg)) return false;
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
      return await tf.setBackend('wasm');
    }
    await import('@tensorflow/tfjs-backend-cpu');
    return await tf.setBackend('cpu');
  } catch (e) {
    notices.push(`${pkg}: ${(e as Error).message.split('\n')[0]}`);
    return false;
  }
}
