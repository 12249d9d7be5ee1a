import * as tfl from '@tensorflow/tfjs-layers';
import { Rng } from '../util/rng.ts';

/** One block of a projection head: Linear(in -> out), then optional normalization and activation. */
export interface HeadBlock {
  /** Input width. */
  in: number;
  /** Output width. */
  out: number;
  /** `batch`: BatchNorm with batch statistics in training (one plate per batch under BEN); `none`: no norm. */
  norm: 'batch' | 'none';
  /** Activation after the norm. */
  act: 'relu' | 'none';
}

/** Options of {@link buildHead}. */
export interface HeadOptions {
  /** Seed for the Linear layers' initialisation. */
  seed: number;
  /** Model name (appears in layer names). */
  name?: string;
}

/** BatchNorm epsilon of the PyTorch reference implementations (tfjs-layers defaults to 1e-3). */
const BN_EPSILON = 1e-5;

/**
 * Builds a projection / prediction head as data: a Sequential model of `(in, out, norm, act)`
 * blocks (lightly's `ProjectionHead`). A Linear followed by BatchNorm has no bias (the norm's beta
 * replaces it). BatchNorm here runs only in training, so its statistics are always those of the
 * current batch; under BEN that batch is one plate.
 *
 * @returns a model [B, blocks[0].in] -> [B, blocks.at(-1).out].
 */
export function buildHead(blocks: HeadBlock[], opts: HeadOptions): tfl.Sequential {
  if (blocks.length === 0) throw new Error('buildHead: a head needs at least one block');
  blocks.forEach((b, i) => {
    if (!(Number.isInteger(b.in) && b.in > 0 && Number.isInteger(b.out) && b.out > 0)) {
      throw new Error(`buildHead: block ${i} needs positive integer widths, got in=${b.in}, out=${b.out}`);
    }
    if (i > 0 && b.in !== blocks[i - 1].out) {
      throw new Error(`buildHead: block ${i} takes ${b.in} inputs but block ${i - 1} gives ${blocks[i - 1].out}`);
    }
  });
  const rng = new Rng(opts.seed);
  const model = tfl.sequential({ name: opts.name });
  blocks.forEach((b, i) => {
    model.add(
      tfl.layers.dense({
        ...(i === 0 ? { inputShape: [b.in] } : {}),
        units: b.out,
        useBias: b.norm === 'none',
        kernelInitializer: tfl.initializers.glorotUniform({ seed: rng.nextU32() }),
      }),
    );
    if (b.norm === 'batch') model.add(tfl.layers.batchNormalization({ epsilon: BN_EPSILON }));
    if (b.act === 'relu') model.add(tfl.layers.reLU());
  });
  return model;
}

/**
 * SimCLR's projection head g (Chen et al. 2020, section 2.1 and appendix B.9): "a MLP with one
 * hidden layer to obtain z_i = g(h_i) = W(2) sigma(W(1) h_i)", with BatchNorm on the hidden layer
 * as in the reference implementation: Linear(in, hidden) - BN - ReLU - Linear(hidden, out).
 * The paper uses hidden = 2048 (ResNet-50's width) and out = 128.
 */
export function simclrProjector(inDim: number, hiddenDim = 2048, outDim = 128): HeadBlock[] {
  return [
    { in: inDim, out: hiddenDim, norm: 'batch', act: 'relu' },
    { in: hiddenDim, out: outDim, norm: 'none', act: 'none' },
  ];
}

/**
 * BYOL's projector (Grill et al. 2020, section 3.3): "a multi-layer perceptron (MLP) ... consisting
 * in a linear layer with output size 4096 followed by batch normalization, rectified linear units
 * (ReLU), and a final linear layer with output dimension 256".
 */
export function byolProjector(inDim: number, hiddenDim = 4096, outDim = 256): HeadBlock[] {
  return [
    { in: inDim, out: hiddenDim, norm: 'batch', act: 'relu' },
    { in: hiddenDim, out: outDim, norm: 'none', act: 'none' },
  ];
}

/**
 * BYOL's predictor q (Grill et al. 2020, section 3.3): "The predictor q_theta uses the same
 * architecture as g_theta", i.e. Linear(dim, 4096) - BN - ReLU - Linear(4096, dim). `hiddenNorm:
 * 'none'` drops the BN (Richemond et al. 2020: BYOL does not need it to avoid collapse).
 */
export function byolPredictor(dim = 256, hiddenDim = 4096, hiddenNorm: HeadBlock['norm'] = 'batch'): HeadBlock[] {
  return [
    { in: dim, out: hiddenDim, norm: hiddenNorm, act: 'relu' },
    { in: hiddenDim, out: dim, norm: 'none', act: 'none' },
  ];
}

/** Named head presets (lightly's `SimCLRProjectionHead`, `BYOLProjectionHead`, `BYOLPredictionHead`). */
export const headPresets = {
  simclrProjector,
  byolProjector,
  byolPredictor,
} as const;
