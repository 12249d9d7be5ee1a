import { register } from 'node:module';

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

/** Loads tfjs-core's gradient registrations once (idempotent). */
export function registerGradients(): Promise<void> {
  loaded ??= (async () => {
    register(`data:text/javascript,${encodeURIComponent(hook)}`);
    await import('@tensorflow/tfjs-core/dist/register_all_gradients.js');
  })();
  return loaded;
}
