import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { BenBatchNorm } from '../../src/models/ben-batchnorm.ts';
import { Rng } from '../../src/util/rng.ts';
import type { BatchSource } from '../../src/training/trainer.ts';
import type { ObjectiveBatch } from '../../src/objectives/objective.ts';

/** conv3x3(4) -> BEN -> relu -> conv3x3/2(8) -> BEN -> relu -> GAP: [B, 8, 8, 2] -> [B, 8]. */
export function tinyBackbone(seed = 1): tfl.LayersModel {
  const input = tfl.input({ shape: [8, 8, 2] });
  let h = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: tfl.initializers.heNormal({ seed }) }).apply(input) as tfl.SymbolicTensor;
  h = tfl.layers.reLU().apply(new BenBatchNorm().apply(h)) as tfl.SymbolicTensor;
  h = tfl.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: false, kernelInitializer: tfl.initializers.heNormal({ seed: seed + 1 }) }).apply(h) as tfl.SymbolicTensor;
  h = tfl.layers.reLU().apply(new BenBatchNorm().apply(h)) as tfl.SymbolicTensor;
  const out = tfl.layers.globalAveragePooling2d({}).apply(h) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out });
}

/**
 * Random labelled images, 3 classes whose channel-0 brightness differs, drawn from a seeded Rng
 * whose state is the source's state; `nanAt` poisons the batch of that draw.
 */
export class ToySource implements BatchSource {
  private rng: Rng;
  private drawn = 0;
  constructor(
    seed: number,
    private readonly batch = 6,
    private readonly nanAt = -1,
  ) {
    this.rng = new Rng(seed);
  }
  next(): ObjectiveBatch {
    const b = this.batch;
    const labels = Int32Array.from({ length: b }, () => this.rng.int(3));
    const data = new Float32Array(b * 8 * 8 * 2);
    for (let i = 0; i < data.length; i++) {
      const img = Math.floor(i / 128);
      data[i] = this.rng.normal(i % 2 === 0 ? labels[img] : 0, 1);
    }
    if (this.drawn === this.nanAt) data[5] = NaN;
    this.drawn++;
    return { views: [tf.tensor4d(data, [b, 8, 8, 2])], labels: tf.tensor1d(labels, 'int32'), group: 'toy' };
  }
  getState(): unknown {
    return { rng: this.rng.getState(), drawn: this.drawn };
  }
  setState(s: unknown): void {
    const st = s as { rng: number[]; drawn: number };
    this.rng = Rng.fromState(st.rng);
    this.drawn = st.drawn;
  }
}
