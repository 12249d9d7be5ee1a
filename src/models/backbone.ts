import type * as tfl from '@tensorflow/tfjs-layers';
import { Registry } from '../util/registry.ts';

/** Options every backbone accepts. */
export interface BackboneOptions {
  /** Input channels (e.g. 3 for RxRx1-WILDS RGB, 5 for Cell Painting, 6 for RxRx1). */
  channels: number;
  /** Input height and width in pixels. */
  size: number;
  /** Seed for weight initialisation. */
  seed?: number;
}

/**
 * A feature extractor: images [B, H, W, C] float32 -> embeddings [B, embeddingDim].
 * Its BatchNorm layers are BEN BatchNorm (see models/ben-batchnorm.ts) so the inference
 * normalization mode can be chosen per run.
 */
export interface Backbone {
  readonly name: string;
  /** Dimension of the embedding the model outputs. */
  readonly embeddingDim: number;
  /** Builds a fresh model (functional LayersModel, output = pooled embedding). */
  build(opts: BackboneOptions): tfl.LayersModel;
}

/** Registry of backbones by name (`resnet18`, `resnet50`, `resnet-small`, ...). */
export const backbones = new Registry<Backbone>('backbone');
