import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { engineFlags } from '../engine/flags.ts';

type Conv2DLayer = ReturnType<typeof tfl.layers.conv2d>;
type ConvArgs = Parameters<typeof tfl.layers.conv2d>[0];

// tfjs-layers exports the Conv2D class only as a type: take the constructor from an instance.
const Conv2DBase = tfl.layers.conv2d({ filters: 1, kernelSize: 1 }).constructor as new (args: ConvArgs) => Conv2DLayer;

/**
 * A `tf.layers.conv2d` whose backward pass computes only the gradients that are needed: without
 * bias and activation it runs the plain `conv2d` op, whose registered gradient is lazy per input,
 * instead of tfjs-layers' `fused.conv2d`, whose custom gradient always computes both the filter
 * and the input gradient. For a network's first conv the input gradient (w.r.t. the images) is
 * never used, and for ResNet-18's 7x7/2 stem on 5-channel 64 px images it costs ~0.7 GMAC, ~5%
 * of a training step. Same forward results and serialization as Conv2D (it saves as `Conv2D`
 * and loads as one), with a bias or an activation it behaves exactly as Conv2D.
 * Input [B, H, W, Ci] -> [B, Ho, Wo, filters] (NHWC).
 */
export class LazyConv2D extends Conv2DBase {
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Parameters<Conv2DLayer['call']>[1]): tf.Tensor {
    const self = this as unknown as {
      useBias: boolean;
      activation: { getClassName(): string };
      kernel: { read(): tf.Tensor };
      strides: number[];
      padding: string;
      dataFormat: string;
      dilationRate: number | number[];
    };
    const linear = self.activation.getClassName() === 'linear';
    if (!engineFlags().lazyStemConv || self.useBias || !linear || self.dataFormat !== 'channelsLast' || (self.padding !== 'same' && self.padding !== 'valid')) {
      return super.call(inputs, kwargs) as tf.Tensor;
    }
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      const d = self.dilationRate;
      return tf.conv2d(
        x,
        self.kernel.read() as tf.Tensor4D,
        self.strides as [number, number],
        self.padding as 'same' | 'valid',
        'NHWC',
        (typeof d === 'number' ? [d, d] : d) as [number, number],
      );
    });
  }
}

/** Factory in the style of `tf.layers.conv2d` (same arguments) for {@link LazyConv2D}. */
export function lazyConv2d(args: ConvArgs): LazyConv2D {
  return new LazyConv2D(args);
}
