import * as tfl from '@tensorflow/tfjs-layers';
import type { Backbone, BackboneOptions } from './backbone.ts';
import { createNorm } from './norm.ts';
import { seedSequence } from './init-seeds.ts';
import { lazyConv2d } from './lazy-conv2d.ts';

/**
 * ResNets in the torchvision layout (He et al., "Deep Residual Learning", CVPR 2016; torchvision
 * v1.5: the stride of a bottleneck sits on its 3x3 conv), NHWC, N input channels, as functional
 * tfjs-layers models that output the globally average-pooled embedding [B, D].
 *
 * Stems: `imagenet` = 7x7/2 conv, BN, ReLU, 3x3/2 max-pool; `small` = 3x3/1 conv, BN, ReLU, no
 * pooling (for 32-64 px crops, as the CIFAR variants of SimCLR and solo-learn), `small2` =
 * 3x3/2 conv, BN, ReLU (the CPU-sized `resnet-small`). Convs have no bias (BN follows) and
 * He-normal fan-out init; "same" padding is TensorFlow's (asymmetric for even sizes, where
 * torchvision pads symmetrically).
 */
export interface ResNetOptions extends BackboneOptions {
  /** `basic` (2 x 3x3, ResNet-18/34) or `bottleneck` (1x1, 3x3, 1x1 x4, ResNet-50+). */
  block: 'basic' | 'bottleneck';
  /** Blocks per stage, e.g. [2, 2, 2, 2] for ResNet-18, [3, 4, 6, 3] for ResNet-50. */
  layers: number[];
  /** Base width per stage (a bottleneck outputs 4x), e.g. [64, 128, 256, 512]. */
  widths: number[];
  /** Stem kind (see above). */
  stem: 'imagenet' | 'small' | 'small2';
  /** Zero-init the last BN gamma of each residual branch (Goyal et al. 2017). Default true. */
  zeroInitResidual?: boolean;
  /** Model name prefix for the layer names. */
  name?: string;
}

/** Output channels of the last stage (the embedding dimension). */
export function resnetEmbeddingDim(o: Pick<ResNetOptions, 'block' | 'widths'>): number {
  return o.widths[o.widths.length - 1] * (o.block === 'bottleneck' ? 4 : 1);
}

/** Builds a ResNet: images [B, size, size, channels] -> embeddings [B, resnetEmbeddingDim]. */
export function buildResNet(o: ResNetOptions): tfl.LayersModel {
  const name = o.name ?? 'resnet';
  const nextSeed = seedSequence(o.seed);
  const init = () => tfl.initializers.varianceScaling({ scale: 2, mode: 'fanOut', distribution: 'normal', seed: nextSeed() });
  // The stem conv reads the images: LazyConv2D skips their (unused) input gradient in training.
  const conv = (x: tfl.SymbolicTensor, filters: number, k: number, s: number, lname: string) =>
    (x === input ? lazyConv2d : tfl.layers.conv2d)({ name: lname, filters, kernelSize: k, strides: s, padding: 'same', useBias: false, kernelInitializer: init() })
      .apply(x) as tfl.SymbolicTensor;
  const bn = (x: tfl.SymbolicTensor, lname: string, zeroGamma = false) =>
    createNorm({ name: lname, zeroGamma }).apply(x) as tfl.SymbolicTensor;
  const relu = (x: tfl.SymbolicTensor, lname: string) => tfl.layers.reLU({ name: lname }).apply(x) as tfl.SymbolicTensor;
  const zeroRes = o.zeroInitResidual ?? true;

  const input = tfl.input({ shape: [o.size, o.size, o.channels], name: `${name}_input` });
  let x: tfl.SymbolicTensor;
  if (o.stem === 'imagenet') {
    x = relu(bn(conv(input, o.widths[0], 7, 2, `${name}_stem_conv`), `${name}_stem_bn`), `${name}_stem_relu`);
    x = tfl.layers.maxPooling2d({ name: `${name}_stem_pool`, poolSize: 3, strides: 2, padding: 'same' }).apply(x) as tfl.SymbolicTensor;
  } else {
    const s = o.stem === 'small' ? 1 : 2;
    x = relu(bn(conv(input, o.widths[0], 3, s, `${name}_stem_conv`), `${name}_stem_bn`), `${name}_stem_relu`);
  }
  let inC = o.widths[0];
  o.layers.forEach((n, stage) => {
    const w = o.widths[stage];
    const outC = o.block === 'bottleneck' ? 4 * w : w;
    for (let b = 0; b < n; b++) {
      const s = b === 0 && stage > 0 ? 2 : 1;
      const p = `${name}_s${stage + 1}b${b + 1}`;
      let y: tfl.SymbolicTensor;
      if (o.block === 'basic') {
        y = relu(bn(conv(x, w, 3, s, `${p}_conv1`), `${p}_bn1`), `${p}_relu1`);
        y = bn(conv(y, w, 3, 1, `${p}_conv2`), `${p}_bn2`, zeroRes);
      } else {
        y = relu(bn(conv(x, w, 1, 1, `${p}_conv1`), `${p}_bn1`), `${p}_relu1`);
        y = relu(bn(conv(y, w, 3, s, `${p}_conv2`), `${p}_bn2`), `${p}_relu2`);
        y = bn(conv(y, outC, 1, 1, `${p}_conv3`), `${p}_bn3`, zeroRes);
      }
      const shortcut = s !== 1 || inC !== outC ? bn(conv(x, outC, 1, s, `${p}_down_conv`), `${p}_down_bn`) : x;
      x = relu(tfl.layers.add({ name: `${p}_add` }).apply([y, shortcut]) as tfl.SymbolicTensor, `${p}_out`);
      inC = outC;
    }
  });
  const out = tfl.layers.globalAveragePooling2d({ name: `${name}_pool` }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out, name });
}

/** A registered ResNet variant. */
function resnetBackbone(name: string, spec: Omit<ResNetOptions, keyof BackboneOptions | 'name'>): Backbone {
  return {
    name,
    embeddingDim: resnetEmbeddingDim(spec),
    build: (opts) => buildResNet({ ...spec, ...opts, name: name.replace(/[^a-z0-9]/gi, '_') }),
  };
}

const R18 = { block: 'basic', layers: [2, 2, 2, 2], widths: [64, 128, 256, 512] } as const;
const R50 = { block: 'bottleneck', layers: [3, 4, 6, 3], widths: [64, 128, 256, 512] } as const;

/** ResNet-18, ImageNet stem (512-d). */
export const resnet18 = resnetBackbone('resnet18', { ...R18, layers: [...R18.layers], widths: [...R18.widths], stem: 'imagenet' });
/** ResNet-50, ImageNet stem (2048-d). */
export const resnet50 = resnetBackbone('resnet50', { ...R50, layers: [...R50.layers], widths: [...R50.widths], stem: 'imagenet' });
/** ResNet-18 with the small-image stem (3x3/1, no max-pool) for 32-64 px crops (512-d). */
export const resnet18Cifar = resnetBackbone('resnet18-cifar', { ...R18, layers: [...R18.layers], widths: [...R18.widths], stem: 'small' });
/** ResNet-50 with the small-image stem (2048-d). */
export const resnet50Cifar = resnetBackbone('resnet50-cifar', { ...R50, layers: [...R50.layers], widths: [...R50.widths], stem: 'small' });
/**
 * A ResNet sized for CPU training: 3x3/2 stem, basic blocks [2, 2, 2, 2] of widths 16/32/64/128
 * (128-d), about 1/16 of ResNet-18's FLOPs at the same input size.
 */
export const resnetSmall = resnetBackbone('resnet-small', { block: 'basic', layers: [2, 2, 2, 2], widths: [16, 32, 64, 128], stem: 'small2' });
