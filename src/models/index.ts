/** Registers the built-in backbones into {@link backbones}; import this module once for its effect. */
import { backbones } from './backbone.ts';
import { resnet18, resnet18Cifar, resnet50, resnet50Cifar, resnetSmall } from './resnet.ts';
import { smallConvnet } from './small-convnet.ts';

for (const b of [resnet18, resnet50, resnet18Cifar, resnet50Cifar, resnetSmall, smallConvnet]) {
  if (!backbones.has(b.name)) backbones.register(b.name, b);
}

export { backbones };
export { setNormalization, NORMALIZATION_MODES, type NormalizationMode } from './ben-batchnorm.ts';
export { loadModel, saveModel } from './io.ts';
