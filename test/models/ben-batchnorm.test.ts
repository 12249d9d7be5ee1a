import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { Rng } from '../../src/util/rng.ts';
import {
  BenBatchNorm,
  benDepths,
  benLayers,
  clearPlateStatistics,
  fitPlateStatistics,
  getNormalization,
  setNormalization,
} from '../../src/models/ben-batchnorm.ts';
import { setEngineFlags } from '../../src/engine/flags.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function randn(rng: Rng, n: number, mean = 0, std = 1): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal(mean, std));
}

/** Float64 per-channel mean and biased variance of NHWC data with C channels. */
function stats64(data: ArrayLike<number>, c: number): { mean: Float64Array; variance: Float64Array } {
  const n = data.length / c;
  const mean = new Float64Array(c);
  const variance = new Float64Array(c);
  for (let i = 0; i < data.length; i++) mean[i % c] += data[i];
  for (let k = 0; k < c; k++) mean[k] /= n;
  for (let i = 0; i < data.length; i++) variance[i % c] += (data[i] - mean[i % c]) ** 2;
  for (let k = 0; k < c; k++) variance[k] /= n;
  return { mean, variance };
}

/** Float64 reference BN: (x - mean) / sqrt(var + eps) * gamma + beta. */
function bn64(data: ArrayLike<number>, c: number, mean: ArrayLike<number>, variance: ArrayLike<number>, gamma: ArrayLike<number>, beta: ArrayLike<number>, eps: number): Float64Array {
  return Float64Array.from(data, (v, i) => ((v - mean[i % c]) / Math.sqrt(variance[i % c] + eps)) * gamma[i % c] + beta[i % c]);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** A one-layer model around a BEN layer with non-trivial gamma/beta/moving statistics. */
function singleLayer(c: number, rng: Rng) {
  const input = tfl.input({ shape: [3, 3, c] });
  const bn = new BenBatchNorm({ epsilon: 1e-3 });
  const model = tfl.model({ inputs: input, outputs: bn.apply(input) as tfl.SymbolicTensor });
  const gamma = randn(rng, c, 1, 0.3);
  const beta = randn(rng, c);
  const mm = randn(rng, c);
  const mv = Float32Array.from({ length: c }, () => 0.5 + rng.next());
  bn.setWeights([tf.tensor1d(gamma), tf.tensor1d(beta), tf.tensor1d(mm), tf.tensor1d(mv)]);
  return { model, bn, gamma, beta, mm, mv };
}

describe('BenBatchNorm inference modes against a float64 reference', () => {
  const c = 4;
  const rng = new Rng(11);
  const n = 10;
  // Channels with a large offset: a naive float32 sum of squares would lose precision.
  const data = Float32Array.from({ length: n * 9 * c }, (_, i) => rng.normal(i % c === 0 ? 1000 : 0, 1 + (i % c)));
  const { model, gamma, beta, mm, mv } = singleLayer(c, rng);
  const x = tf.tensor4d(data, [n, 3, 3, c]);
  const predict = (t: tf.Tensor) => (model.predict(t, { batchSize: t.shape[0] }) as tf.Tensor).dataSync();

  it('running uses the moving averages', () => {
    setNormalization(model, 'running');
    expect(maxAbsDiff(predict(x), bn64(data, c, mm, mv, gamma, beta, 1e-3))).toBeLessThan(1e-4);
  });

  it('batch uses the statistics of the batch', () => {
    setNormalization(model, 'batch');
    const s = stats64(data, c);
    expect(maxAbsDiff(predict(x), bn64(data, c, s.mean, s.variance, gamma, beta, 1e-3))).toBeLessThan(2e-3);
  });

  it('plate uses statistics fitted over all batches of the plate', async () => {
    const parts = [tf.slice(x, 0, 3), tf.slice(x, 3, 1), tf.slice(x, 4, 6)];
    await fitPlateStatistics(model, () => parts);
    setNormalization(model, 'plate');
    const s = stats64(data, c);
    const fitted = (model.layers[1] as BenBatchNorm).getFittedStatistics()!;
    expect(fitted.n).toBe(n * 9);
    for (let k = 0; k < c; k++) {
      expect(fitted.mean[k]).toBeCloseTo(s.mean[k], 3);
      expect(Math.abs(fitted.variance[k] - s.variance[k]) / s.variance[k]).toBeLessThan(1e-4);
    }
    // Applied to a single image: its own batch statistics are irrelevant.
    const one = tf.slice(x, 7, 1);
    expect(maxAbsDiff(predict(one), bn64(one.dataSync(), c, s.mean, s.variance, gamma, beta, 1e-3))).toBeLessThan(1e-3);
  });

  it('controls uses statistics of the control images only, and refuses plate stats', async () => {
    const controls = tf.slice(x, 2, 4);
    setNormalization(model, 'controls');
    expect(() => predict(x)).toThrow(/fitted statistics come from "plate"/);
    await fitPlateStatistics(model, () => [controls], { source: 'controls' });
    const s = stats64(controls.dataSync(), c);
    expect(maxAbsDiff(predict(x), bn64(data, c, s.mean, s.variance, gamma, beta, 1e-3))).toBeLessThan(2e-3);
    clearPlateStatistics(model);
    expect(() => predict(x)).toThrow(/needs plate statistics/);
  });
});

/**
 * A small branching model: BN1 -> dense(relu) -> {BN2 -> dense, BN3} -> add -> pool. BN2 and BN3
 * share a depth, so fitting takes 3 rounds... (depths 0, 1, 1 plus BN4 after the add: depth 2).
 */
function branchingModel(seed: number) {
  const input = tfl.input({ shape: [2, 2, 3] });
  const b1 = new BenBatchNorm({ name: 'b1' });
  const h = tfl.layers.dense({ units: 5, activation: 'relu', kernelInitializer: tfl.initializers.glorotNormal({ seed }) }).apply(b1.apply(input)) as tfl.SymbolicTensor;
  const b2 = new BenBatchNorm({ name: 'b2' });
  const left = tfl.layers.dense({ units: 5, kernelInitializer: tfl.initializers.glorotNormal({ seed: seed + 1 }) }).apply(b2.apply(h)) as tfl.SymbolicTensor;
  const b3 = new BenBatchNorm({ name: 'b3' });
  const right = b3.apply(h) as tfl.SymbolicTensor;
  const b4 = new BenBatchNorm({ name: 'b4' });
  const sum = b4.apply(tfl.layers.add().apply([left, right])) as tfl.SymbolicTensor;
  const out = tfl.layers.globalAveragePooling2d({}).apply(sum) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: out });
  const rng = new Rng(seed);
  for (const l of benLayers(model)) {
    l.setWeights([tf.tensor1d(randn(rng, l.getWeights()[0].shape[0], 1, 0.2)), tf.tensor1d(randn(rng, l.getWeights()[0].shape[0], 0, 0.5)), ...l.getWeights().slice(2)]);
  }
  return { model, b1, b2, b3, b4 };
}

/** Float64 reference of branchingModel with whole-plate statistics at every BN layer. */
function branching64(model: tfl.LayersModel, data: Float32Array, n: number): Float64Array {
  const w = (name: string) => model.getLayer(name).getWeights().map((t) => t.dataSync());
  const dense = model.layers.filter((l) => l.getClassName() === 'Dense');
  const [k1, bias1] = dense[0].getWeights().map((t) => t.dataSync());
  const [k2, bias2] = dense[1].getWeights().map((t) => t.dataSync());
  const bn = (d: Float64Array | Float32Array, c: number, name: string) => {
    const [g, b] = w(name);
    const s = stats64(d, c);
    return bn64(d, c, s.mean, s.variance, g, b, 1e-5);
  };
  const denseF = (d: Float64Array, cin: number, cout: number, k: ArrayLike<number>, b: ArrayLike<number>, relu: boolean) => {
    const rows = d.length / cin;
    const o = new Float64Array(rows * cout);
    for (let r = 0; r < rows; r++)
      for (let j = 0; j < cout; j++) {
        let s = b[j];
        for (let i = 0; i < cin; i++) s += d[r * cin + i] * k[i * cout + j];
        o[r * cout + j] = relu ? Math.max(0, s) : s;
      }
    return o;
  };
  const h = denseF(bn(data, 3, 'b1'), 3, 5, k1, bias1, true);
  const left = denseF(bn(h, 5, 'b2'), 5, 5, k2, bias2, false);
  const right = bn(h, 5, 'b3');
  const sum = bn(Float64Array.from(left, (v, i) => v + right[i]), 5, 'b4');
  const out = new Float64Array(n * 5);
  for (let i = 0; i < sum.length; i++) out[Math.floor(i / 20) * 5 + (i % 5)] += sum[i] / 4;
  return out;
}

describe('plate statistics through a multi-layer network', () => {
  const { model, b1, b2, b3, b4 } = branchingModel(5);
  const rng = new Rng(3);
  const n = 13;
  const data = randn(rng, n * 12, 2, 3);
  const x = tf.tensor4d(data, [n, 2, 2, 3]);

  it('groups layers by BN depth', () => {
    const d = benDepths(model);
    expect([d.get(b1), d.get(b2), d.get(b3), d.get(b4)]).toEqual([0, 1, 1, 2]);
  });

  it('plate inference equals a float64 whole-plate forward pass', async () => {
    await fitPlateStatistics(model, () => [tf.slice(x, 0, 5), tf.slice(x, 5, 8)]);
    setNormalization(model, 'plate');
    const got = (model.predict(x) as tf.Tensor).dataSync();
    expect(maxAbsDiff(got, branching64(model, data, n))).toBeLessThan(1e-4);
  });

  it('plate embeddings do not depend on batch size or order', async () => {
    const embed = async (order: number[], batch: number) => {
      const idx = tf.tensor1d(order, 'int32');
      const shuffled = tf.gather(x, idx);
      const batches: tf.Tensor[] = [];
      for (let s = 0; s < n; s += batch) batches.push(tf.slice(shuffled, s, Math.min(batch, n - s)));
      await fitPlateStatistics(model, () => batches);
      setNormalization(model, 'plate');
      // Embed in batches of the same size, then restore the original order.
      const parts = batches.map((b) => (model.predict(b, { batchSize: b.shape[0] }) as tf.Tensor).arraySync() as number[][]);
      const rows = parts.flat();
      const out: number[][] = new Array(n);
      order.forEach((o, i) => (out[o] = rows[i]));
      return out.flat();
    };
    const identity = Array.from({ length: n }, (_, i) => i);
    const reversed = [...identity].reverse();
    const shuffled = new Rng(9).shuffle([...identity]) as number[];
    const ref = await embed(identity, n);
    // The whole plate as one batch in `batch` mode is the paper's inference: plate mode must match it.
    setNormalization(model, 'batch');
    const batchMode = (model.predict(x, { batchSize: n }) as tf.Tensor).dataSync();
    expect(maxAbsDiff(ref, batchMode)).toBeLessThan(1e-5);
    for (const [order, bs] of [[identity, 1], [reversed, 4], [shuffled, 5], [shuffled, 13]] as const) {
      expect(maxAbsDiff(await embed([...order], bs), ref)).toBeLessThan(1e-5);
    }
  });

  it('restores the previous modes and does not leak tensors', async () => {
    setNormalization(model, 'running');
    clearPlateStatistics(model);
    const before = tf.memory().numTensors;
    await fitPlateStatistics(model, () => [x]);
    clearPlateStatistics(model);
    expect(getNormalization(model)).toBe('running');
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('training mode', () => {
  it('matches tf.layers.batchNormalization forward and gradients (x, gamma, beta)', () => {
    const rng = new Rng(21);
    const shape: [number, number, number, number] = [6, 3, 2, 4];
    const x = tf.tensor4d(randn(rng, 6 * 3 * 2 * 4, 1, 2), shape);
    const wOut = tf.tensor4d(randn(rng, 6 * 3 * 2 * 4), shape);
    const gamma = randn(rng, 4, 1, 0.3);
    const beta = randn(rng, 4);
    const ours = new BenBatchNorm({ epsilon: 1e-3 });
    const ref = tfl.layers.batchNormalization({ epsilon: 1e-3 });
    ours.apply(tfl.input({ shape: [3, 2, 4] }));
    ref.apply(tfl.input({ shape: [3, 2, 4] }));
    ours.setWeights([tf.tensor1d(gamma), tf.tensor1d(beta), tf.zeros([4]), tf.ones([4])]);
    ref.setWeights([tf.tensor1d(gamma), tf.tensor1d(beta), tf.zeros([4]), tf.ones([4])]);
    const xv = tf.variable(x, true, 'bn_test_x');
    const grads = (layer: tfl.layers.Layer) => {
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(layer.apply(xv, { training: true }) as tf.Tensor, wOut)) as tf.Scalar, [
        xv,
        ...layer.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val),
      ]);
      return { value: value.dataSync()[0], grads: Object.values(grads).map((g) => g.dataSync()) };
    };
    const a = grads(ours);
    const b = grads(ref);
    expect(Math.abs(a.value - b.value)).toBeLessThan(1e-4 * Math.max(1, Math.abs(b.value)));
    expect(a.grads.length).toBe(3);
    for (let i = 0; i < 3; i++) {
      const scale = Math.max(...Array.from(b.grads[i], Math.abs));
      expect(maxAbsDiff(a.grads[i], b.grads[i]) / scale).toBeLessThan(1e-4);
    }
  });

  it('fused kernels and the tf-ops path agree: output, gradients, running statistics (rank 4 and 2)', () => {
    for (const shape of [[4, 5, 3, 6], [7, 6]]) {
      const rng = new Rng(shape.length);
      const n = shape.reduce((a, b) => a * b, 1);
      const c = shape[shape.length - 1];
      const x = tf.variable(tf.tensor(randn(rng, n, 2, 3), shape), true, `bn_ab_x${shape.length}`);
      const wOut = tf.tensor(randn(rng, n), shape);
      const weights = [randn(rng, c, 1, 0.3), randn(rng, c), randn(rng, c), randn(rng, c, 2, 0.1)];
      const run = (fused: boolean) => {
        const previous = setEngineFlags({ fusedBatchNorm: fused });
        try {
          const bn = new BenBatchNorm({ momentum: 0.7 });
          bn.apply(tfl.input({ shape: shape.slice(1) }));
          bn.setWeights(weights.map((w) => tf.tensor1d(w)));
          const vars = [x, ...bn.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val)];
          const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(bn.apply(x, { training: true }) as tf.Tensor, wOut)) as tf.Scalar, vars);
          const out = { value: value.dataSync()[0], grads: vars.map((v) => grads[v.name].dataSync()), stats: bn.getWeights().slice(2).map((t) => t.dataSync()) };
          tf.dispose([value, ...Object.values(grads)]);
          bn.dispose();
          return out;
        } finally {
          setEngineFlags(previous);
        }
      };
      const a = run(true);
      const b = run(false);
      expect(Math.abs(a.value - b.value)).toBeLessThan(1e-4 * Math.max(1, Math.abs(b.value)));
      for (let i = 0; i < 3; i++) {
        const scale = Math.max(...Array.from(b.grads[i], Math.abs));
        expect(maxAbsDiff(a.grads[i], b.grads[i]) / scale).toBeLessThan(1e-4);
      }
      for (let i = 0; i < 2; i++) expect(maxAbsDiff(a.stats[i], b.stats[i])).toBeLessThan(1e-5);
      x.dispose();
      wOut.dispose();
    }
  });

  it('updates the running statistics with momentum and the unbiased variance', () => {
    const rng = new Rng(4);
    const data = randn(rng, 5 * 2 * 2 * 3, 3, 2);
    const bn = new BenBatchNorm({ momentum: 0.8 });
    bn.apply(tfl.input({ shape: [2, 2, 3] }));
    tf.tidy(() => void bn.apply(tf.tensor4d(data, [5, 2, 2, 3]), { training: true }));
    const s = stats64(data, 3);
    const [, , mm, mv] = bn.getWeights().map((t) => t.dataSync());
    for (let k = 0; k < 3; k++) {
      expect(mm[k]).toBeCloseTo(0.2 * s.mean[k], 4);
      expect(mv[k]).toBeCloseTo(0.8 + 0.2 * s.variance[k] * (20 / 19), 4);
    }
  });

  it('training ignores the inference mode and does not leak', () => {
    const rng = new Rng(8);
    const bn = new BenBatchNorm({ normalization: 'running' });
    bn.apply(tfl.input({ shape: [2, 2, 3] }));
    const x = tf.tensor4d(randn(rng, 4 * 12, 5, 1), [4, 2, 2, 3]);
    const before = tf.memory().numTensors;
    const y = tf.tidy(() => bn.apply(x, { training: true }) as tf.Tensor) as tf.Tensor;
    const s = stats64(y.dataSync(), 3);
    for (let k = 0; k < 3; k++) expect(Math.abs(s.mean[k])).toBeLessThan(1e-5);
    y.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
