import * as tfl from '@tensorflow/tfjs-layers';

/**
 * A tiny functional convnet for objective tests: [B, 6, 6, 2] -> conv 3x3 valid (no bias) -> BN ->
 * ReLU -> global average pool -> [B, 4]. With valid padding a per-channel constant added to every
 * image shifts each conv output channel by a constant, which training-mode BN removes exactly:
 * the property BEN relies on for plate-wide batch effects.
 */
export function tinyBackbone(seed = 1): tfl.LayersModel {
  const input = tfl.input({ shape: [6, 6, 2] });
  let x = tfl.layers
    .conv2d({ filters: 4, kernelSize: 3, padding: 'valid', useBias: false, kernelInitializer: tfl.initializers.glorotUniform({ seed }) })
    .apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization({ epsilon: 1e-5 }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.reLU().apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: x, name: 'tiny' });
}

/** Embedding width of {@link tinyBackbone}. */
export const TINY_EMBEDDING_DIM = 4;
