import type { CommandModule } from 'yargs';
import { readFileSync } from 'node:fs';
import { initBackend } from '../../engine/backend.ts';
import { trainingKernels } from '../../engine/kernels/index.ts';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

/** `ben info`: version, selected backend, thread count and the optional backends found. */
export const infoCommand: CommandModule<{ backend?: string }, { backend?: string; json?: boolean }> = {
  command: 'info',
  describe: 'Print the version, the selected compute backend, its threads and the optional backends found',
  builder: (y) => y.option('json', { type: 'boolean', describe: 'Print as JSON' }) as never,
  handler: async (argv) => {
    const info = await initBackend(argv.backend);
    const out = { version: pkg.version, node: process.version, ...info };
    if (argv.json) {
      console.log(JSON.stringify(out, null, 2));
      return;
    }
    console.log(`ben-ssl ${out.version} (node ${out.node})`);
    console.log(`backend: ${info.backend} (${info.provider}), threads: ${info.threads}`);
    if (info.wasm) {
      console.log(`wasm: SIMD ${info.wasm.simd ? 'on' : 'off'}, ${info.wasm.threaded ? 'multi-threaded build' : 'single-threaded build'}`);
      console.log(`wasm training kernels: ${trainingKernels.map((k) => k.kernelName).join(', ')}`);
    }
    if (info.native) {
      const n = info.native;
      console.log(`native engine: ${n.library} ${n.version}, ISA ${n.isa}, ${n.threads} thread(s) (wasm: ${info.wasm?.threaded ? 'multi' : 'single'}-threaded); kernels: ${n.kernels.join(', ')}`);
      console.log(`native threads: ${n.waitPolicy}`);
    }
    for (const [name, state] of Object.entries(info.optional)) console.log(`optional ${name}: ${state}`);
    for (const n of info.notices) console.log(`notice: ${n}`);
  },
};
