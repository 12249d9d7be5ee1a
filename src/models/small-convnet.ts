import * as tfl from '@tensorflow/tfjs-layers';
import type { Backbone, BackboneOptions } from './backbone.ts';
import { createNorm } from './norm.ts';
import { seedSequence } from './init-seeds.ts';
import { lazyConv2d } from './lazy-conv2d.ts';

/**
 * The engine benchmark's small convnet: 3x3/2 conv 32 -> BN -> ReLU, then for f in 32, 64, 128:
 * conv3x3/2 f, BN, ReLU, conv3x3 f, BN, ReLU; global average pool -> [B, 128].
 */
export function buildSmallConvnet(opts: BackboneOptions): tfl.LayersModel {
  const nextSeed = seedSequence(opts.seed);
  const input = tfl.input({ shape: [opts.size, opts.size, opts.channels], name: 'small_convnet_input' });
  const block = (x: tfl.SymbolicTensor, filters: number, strides: number, n: string) => {
    // The stem reads the images: LazyConv2D skips their (unused) input gradient in training.
    const c = (x === input ? lazyConv2d : tfl.layers.conv2d)({
        name: `${n}_conv`,
        filters,
        kernelSize: 3,
        strides,
        padding: 'same',
        useBias: false,
        kernelInitializer: tfl.initializers.heNormal({ seed: nextSeed() }),
      })
      .apply(x) as tfl.SymbolicTensor;
    const b = createNorm({ name: `${n}_bn` }).apply(c) as tfl.SymbolicTensor;
    return tfl.layers.reLU({ name: `${n}_relu` }).apply(b) as tfl.SymbolicTensor;
  };
  let x = block(input, 32, 2, 'small_convnet_stem');
  for (const f of [32, 64, 128]) {
    x = block(x, f, 2, `small_convnet_${f}a`);
    x = block(x, f, 1, `small_convnet_${f}b`);
  }
  const out = tfl.layers.globalAveragePooling2d({ name: 'small_convnet_pool' }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out, name: 'small_convnet' });
}

/** Registered as `small-convnet` (128-d). */
export const smallConvnet: Backbone = { name: 'small-convnet', embeddingDim: 128, build: buildSmallConvnet };
