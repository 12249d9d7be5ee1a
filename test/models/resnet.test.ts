import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../../src/engine/backend.ts';
import { backbones } from '../../src/models/index.ts';

function trainableParams(m: tfl.LayersModel): number {
  return m.trainableWeights.reduce((s, w) => s + w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0);
}

describe('ResNet backbones', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('registers every backbone under its name', () => {
    for (const n of ['resnet18', 'resnet50', 'resnet18-cifar', 'resnet50-cifar', 'resnet-small', 'small-convnet']) {
      expect(backbones.has(n)).toBe(true);
    }
  });

  it('ResNet-18 and ResNet-50 have torchvision parameter counts (without the fc head)', () => {
    // torchvision: resnet18 11,689,512 - fc 513,000; resnet50 25,557,032 - fc 2,049,000.
    const r18 = backbones.get('resnet18').build({ channels: 3, size: 64, seed: 1 });
    expect(trainableParams(r18)).toBe(11_176_512);
    expect(r18.outputs[0].shape).toEqual([null, 512]);
    r18.dispose();
    const r50 = backbones.get('resnet50').build({ channels: 3, size: 64, seed: 1 });
    expect(trainableParams(r50)).toBe(23_508_032);
    expect(r50.outputs[0].shape).toEqual([null, 2048]);
    r50.dispose();
  });

  it('N input channels change only the stem conv', () => {
    const r3 = backbones.get('resnet18').build({ channels: 3, size: 64, seed: 1 });
    const r5 = backbones.get('resnet18').build({ channels: 5, size: 64, seed: 1 });
    expect(trainableParams(r5) - trainableParams(r3)).toBe(7 * 7 * 2 * 64);
    r3.dispose();
    r5.dispose();
  });

  it('the small-image stem keeps full resolution into stage 1', () => {
    const m = backbones.get('resnet18-cifar').build({ channels: 3, size: 32, seed: 1 });
    const stage1 = m.getLayer('resnet18_cifar_s1b1_out');
    expect(stage1.outputShape).toEqual([null, 32, 32, 64]);
    const std = backbones.get('resnet18').build({ channels: 3, size: 32, seed: 1 });
    expect(std.getLayer('resnet18_s1b1_out').outputShape).toEqual([null, 8, 8, 64]);
    m.dispose();
    std.dispose();
  });

  it('resnet-small and small-convnet embed a batch to [B, embeddingDim] with finite values', () => {
    for (const name of ['resnet-small', 'small-convnet']) {
      const bb = backbones.get(name);
      const m = bb.build({ channels: 5, size: 32, seed: 3 });
      const y = tf.tidy(() => m.predict(tf.randomNormal([2, 32, 32, 5], 0, 1, 'float32', 4)) as tf.Tensor);
      expect(y.shape).toEqual([2, bb.embeddingDim]);
      expect(Array.from(y.dataSync()).every(Number.isFinite)).toBe(true);
      y.dispose();
      m.dispose();
    }
  });
});
