import { register } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { RELU_GRAD, registerReluGradKernels } from './kernels/relu-grad.ts';
import { engineFlags } from './flags.ts';

/**
 * Registers tfjs-core's gradient functions (Conv2D, Relu, FusedBatchNorm, Sum, ...).
 *
 * tfjs-core's CommonJS Node bundle (what `import '@tensorflow/tfjs-core'` loads) carries no
 * gradients: they ship only as the package's ES-module files, whose extensionless imports
 * (`'./gradients/Abs_grad'`, `'../ops/mul'`) Node's resolver refuses. A resolve hook scoped to
 * that package's `dist/` adds the `.js` / `/index.js` that the bundlers normally supply, then
 * `register_all_gradients.js` loads as published. Its modules share tfjs's global engine and
 * registries (tfjs keeps them on the global object), so the gradients apply to every tensor.
 */
const hook = `
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (e) {
    const fromCore = context.parentURL && context.parentURL.includes('/@tensorflow/tfjs-core/dist/');
    if (!fromCore || !specifier.startsWith('.')) throw e;
    // './gradients' names both gradients.js and gradients/: the file wins, as in bundlers.
    try {
      return await next(specifier + '.js', context);
    } catch {
      return next(specifier + '/index.js', context);
    }
  }
}`;

let loaded: Promise<void> | undefined;

/** Whether ReLU's gradient uses the one-pass kernel (default true; false: tfjs's, for A/B benchmarks). */


/**
 * Loads tfjs-core's gradient registrations once (idempotent), then replaces ReLU's gradient with
 * one that runs our one-pass kernel where the backend has it (wasm, cpu) and tfjs's
 * `dy * step(x)` elsewhere.
 */
export function registerGradients(): Promise<void> {
  loaded ??= (async () => {
    register(`data:text/javascript,${encodeURIComponent(hook)}`);
    await import('@tensorflow/tfjs-core/dist/register_all_gradients.js');
    registerReluGradKernels();
    tf.registerGradient({
      kernelName: tf.Relu,
      inputsToSave: ['x'],
      gradFunc: (dy, saved) => {
        const [x] = saved;
        const dyT = dy as tf.Tensor;
        return {
          x: () =>
            engineFlags().fusedReluGrad && tf.getKernel(RELU_GRAD, tf.getBackend())
              ? (tf.engine().runKernel(RELU_GRAD, { dy: dyT, x }) as tf.Tensor)
              : tf.mul(dyT, tf.cast(tf.step(x), 'float32')),
        };
      },
    });
  })();
  return loaded;
}
