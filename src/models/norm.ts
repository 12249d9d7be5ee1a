import type * as tfl from '@tensorflow/tfjs-layers';
import { benBatchNorm } from './ben-batchnorm.ts';

/** What a backbone asks of its normalization layer. */
export interface NormOptions {
  /** Layer name (unique in the model). */
  name?: string;
  /** Start gamma at 0 (last BN of a residual branch, Goyal et al. 2017). Default false. */
  zeroGamma?: boolean;
  /** Moving-average momentum (Keras convention: new = m * old + (1 - m) * batch). Default 0.9. */
  momentum?: number;
  /** Variance epsilon. Default 1e-5 (PyTorch). */
  epsilon?: number;
}

/** Makes one normalization layer over the channel (last) axis of [B, H, W, C] tensors. */
export type NormFactory = (opts: NormOptions) => tfl.layers.Layer;

/** The default: BEN BatchNorm (batch statistics in training, a selectable inference mode). */
export const benNorm: NormFactory = (opts) => benBatchNorm(opts);

/** The one place backbones get their BatchNorm layer from: BEN BatchNorm. */
export function createNorm(opts: NormOptions = {}): tfl.layers.Layer {
  return benNorm(opts);
}
