import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../../src/engine/backend.ts';
import { createNorm } from '../../src/models/norm.ts';
import { backbones } from '../../src/models/index.ts';
import { Rng } from '../../src/util/rng.ts';

/** Tiny convnet: conv3x3 8, BN, ReLU, conv3x3/2 16, BN, ReLU, GAP, dense 3. */
function tinyConvnet(seed: number): tfl.LayersModel {
  const input = tfl.input({ shape: [16, 16, 3] });
  let x = tfl.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: tfl.initializers.heNormal({ seed }) }).apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.reLU().apply(createNorm().apply(x)) as tfl.SymbolicTensor;
  x = tfl.layers.conv2d({ filters: 16, kernelSize: 3, strides: 2, padding: 'same', useBias: false, kernelInitializer: tfl.initializers.heNormal({ seed: seed + 1 }) }).apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.reLU().apply(createNorm().apply(x)) as tfl.SymbolicTensor;
  x = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 3, kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 2 }) }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out });
}

function data(rng: Rng, b: number, size: number, c: number, classes: number) {
  const xs = Float32Array.from({ length: b * size * size * c }, () => rng.normal());
  const ys = Int32Array.from({ length: b }, () => rng.int(classes));
  return { xs, ys };
}

function step(model: tfl.LayersModel, opt: tf.Optimizer, x: tf.Tensor, y: tf.Tensor): number {
  const loss = opt.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, true)!;
  const v = loss.dataSync()[0];
  loss.dispose();
  return v;
}

/** 20 Adam steps on a fixed stream of batches; returns the loss curve. */
function lossCurve(): number[] {
  const model = tinyConvnet(11);
  const opt = tf.train.adam(0.01);
  const rng = new Rng(5);
  const losses: number[] = [];
  for (let i = 0; i < 20; i++) {
    const { xs, ys } = data(rng, 8, 16, 3, 3);
    const x = tf.tensor4d(xs, [8, 16, 16, 3]);
    const y = tf.tidy(() => tf.oneHot(tf.tensor1d(ys, 'int32'), 3));
    losses.push(step(model, opt, x, y));
    x.dispose();
    y.dispose();
  }
  opt.dispose();
  model.dispose();
  return losses;
}

describe('training on the wasm engine', () => {
  beforeAll(async () => {
    await initBackend('cpu');
    await initBackend('wasm');
  });

  it('a 20-step tiny convnet run gives the same loss curve on wasm and cpu (1e-3 relative)', async () => {
    await tf.setBackend('cpu');
    const ref = lossCurve();
    await tf.setBackend('wasm');
    const got = lossCurve();
    expect(new Set(ref).size).toBe(20); // the weights move: every step sees a different loss
    for (let i = 0; i < 20; i++) expect(Math.abs(got[i] - ref[i]) / Math.abs(ref[i])).toBeLessThan(1e-3);
  });

  it('leaks no tensors across training steps (resnet-small, Adam)', async () => {
    await tf.setBackend('wasm');
    const bb = backbones.get('resnet-small').build({ channels: 5, size: 32, seed: 1 });
    const head = tfl.layers.dense({ units: 4 }).apply(bb.outputs[0]) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: bb.inputs, outputs: head });
    const opt = tf.train.adam(1e-3);
    const { xs, ys } = data(new Rng(1), 4, 32, 5, 4);
    const x = tf.tensor4d(xs, [4, 32, 32, 5]);
    const y = tf.tidy(() => tf.oneHot(tf.tensor1d(ys, 'int32'), 4));
    step(model, opt, x, y); // creates Adam's slots
    const counts: number[] = [];
    for (let i = 0; i < 4; i++) {
      step(model, opt, x, y);
      counts.push(tf.memory().numTensors);
    }
    expect(new Set(counts).size).toBe(1);
    x.dispose();
    y.dispose();
    opt.dispose();
    model.dispose();
  });
});
