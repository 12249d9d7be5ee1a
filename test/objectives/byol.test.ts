import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/engine/backend.ts';
import { BYOL, createByol } from '../../src/objectives/byol.ts';
import { cosineMomentum } from '../../src/objectives/ema.ts';
import { shiftBatch, viewBatch } from './batch.ts';
import { TINY_EMBEDDING_DIM, tinyBackbone } from './tiny-backbone.ts';

beforeAll(async () => {
  await initBackend('cpu'); // also registers tfjs-core's gradients
});

const SMALL = { hiddenDim: 8, projectionDim: 5 };

function built(options: Record<string, unknown> = {}, seed = 3, withFactory = true): BYOL {
  const obj = createByol({ ...SMALL, ...options });
  obj.build({
    backbone: tinyBackbone(seed),
    embeddingDim: TINY_EMBEDDING_DIM,
    seed,
    ...(withFactory ? { buildBackbone: () => tinyBackbone(seed + 100) } : {}),
  });
  return obj;
}

const values = (v: tf.Tensor) => Array.from(v.dataSync());

describe('BYOL target network', () => {
  it('starts as an exact copy of the online backbone + projector, built by the factory or cloned', () => {
    for (const withFactory of [true, false]) {
      const obj = built({}, 3, withFactory);
      const pairs = obj.momentumPairs();
      // conv kernel + BN gamma/beta (backbone), Linear kernel + BN gamma/beta + Linear kernel/bias (projector).
      expect(pairs.length).toBe(3 + 5);
      for (const [online, target] of pairs) {
        expect(target).not.toBe(online);
        expect(values(target)).toEqual(values(online));
      }
    }
  });

  it('is not trainable: not in trainableVariables and not picked up by a default variableGrads', () => {
    const obj = built();
    const targetNames = new Set(obj.momentumPairs().map(([, t]) => t.name));
    const trainable = obj.trainableVariables();
    expect(trainable.length).toBe(3 + 5 + 5); // + predictor
    expect(trainable.some((v) => targetNames.has(v.name))).toBe(false);
    const batch = viewBatch(1, 6, 2);
    const { value, grads } = tf.variableGrads(() => obj.loss(batch).loss);
    expect(Object.keys(grads).some((n) => targetNames.has(n))).toBe(false);
    tf.dispose([value, ...Object.values(grads)]);
  });

  it('passes no gradient into the target even when asked for it (stop-gradient)', () => {
    const obj = built();
    const target = obj.momentumPairs()[0][1];
    target.trainable = true;
    try {
      const { value, grads } = tf.variableGrads(() => obj.loss(viewBatch(2, 6, 2)).loss, [target]);
      expect(values(grads[target.name]).every((g) => g === 0)).toBe(true);
      tf.dispose([value, ...Object.values(grads)]);
    } finally {
      target.trainable = false;
    }
  });

  it('gives every online variable (backbone, projector, predictor) a non-zero gradient', () => {
    const obj = built();
    const vars = obj.trainableVariables();
    const { value, grads } = tf.variableGrads(() => obj.loss(viewBatch(4, 6, 2)).loss, vars);
    for (const v of vars) {
      const g = grads[v.name];
      expect(g, v.name).toBeDefined();
      expect(tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0]), v.name).toBeGreaterThan(0);
    }
    tf.dispose([value, ...Object.values(grads)]);
  });

  it('follows xi <- tau xi + (1 - tau) theta with the cosine momentum after each optimizer step', () => {
    const K = 4;
    const obj = built({ baseMomentum: 0.9 });
    const pairs = obj.momentumPairs();
    const ref = pairs.map(([, t]) => values(t)); // float64 reference of the target
    const vars = obj.trainableVariables();
    const opt = tf.train.sgd(0.5);
    const batch = viewBatch(3, 8, 2);
    for (let k = 0; k < K; k++) {
      const { value, grads } = tf.variableGrads(() => obj.loss(batch).loss, vars);
      opt.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
      tf.dispose([value, ...Object.values(grads)]);
      obj.afterStep!(k, K);
      const tau = cosineMomentum(k, K, 0.9, 1);
      pairs.forEach(([online], i) => {
        const o = values(online);
        ref[i] = ref[i].map((x, j) => tau * x + (1 - tau) * o[j]);
      });
      expect(obj.loss(batch).metrics.tau.dataSync()[0]).toBeCloseTo(tau, 6);
    }
    let lag = 0;
    pairs.forEach(([online, target], i) => {
      const t = values(target);
      t.forEach((x, j) => expect(Math.abs(x - ref[i][j])).toBeLessThan(1e-6));
      lag = Math.max(lag, ...values(online).map((x, j) => Math.abs(x - t[j])));
    });
    expect(lag).toBeGreaterThan(1e-3); // the target really lags behind the online network
  });

  it('checkpoints its weights as extra state and restores them into a fresh objective', () => {
    const a = built({ baseMomentum: 0.5 }, 3);
    const batch = viewBatch(4, 6, 2);
    const vars = a.trainableVariables();
    const { value, grads } = tf.variableGrads(() => a.loss(batch).loss, vars);
    tf.train.sgd(0.5).applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
    tf.dispose([value, ...Object.values(grads)]);
    a.afterStep!(0, 10);
    const state = a.extraState!();
    expect(Object.keys(state).filter((k) => k.startsWith('target.backbone.')).length).toBe(5); // incl. BN moving stats
    expect(Object.keys(state).filter((k) => k.startsWith('target.projector.')).length).toBe(7);
    const b = built({ baseMomentum: 0.5 }, 17);
    b.loadExtraState!(state);
    tf.dispose(Object.values(state)); // copies: disposing them must not disturb either objective
    const ta = a.momentumPairs().map(([, t]) => values(t));
    const tb = b.momentumPairs().map(([, t]) => values(t));
    expect(tb).toEqual(ta);
  });

  it('rejects extra state from another architecture with a UserError naming the weight', () => {
    const a = built();
    const other = createByol({ hiddenDim: 6, projectionDim: 5 });
    other.build({ backbone: tinyBackbone(1), embeddingDim: TINY_EMBEDDING_DIM, seed: 1 });
    const state = other.extraState!();
    expect(() => a.loadExtraState!(state)).toThrow(/target\.projector\.0" has shape \[4, 6\], this model needs \[4, 8\]/);
    expect(() => a.loadExtraState!({})).toThrow(/no BYOL target weight "target.backbone.0"/);
  });
});

describe('BYOL loss', () => {
  it('is blind to a plate-wide offset: online and target BN both use the batch statistics', () => {
    const obj = built();
    const batch = viewBatch(5, 8, 2);
    const base = obj.loss(batch).loss.dataSync()[0];
    expect(obj.loss(shiftBatch(batch, [4, -3])).loss.dataSync()[0]).toBeCloseTo(base, 4);
  });

  it('has the symmetrized range and metrics, for 2 and 3 views', () => {
    for (const V of [2, 3]) {
      const obj = built({ views: V });
      const { loss, metrics } = obj.loss(viewBatch(6, 6, V));
      const l = loss.dataSync()[0];
      const pairs = V * (V - 1);
      expect(l).toBeGreaterThanOrEqual(0);
      expect(l).toBeLessThanOrEqual(4 * pairs);
      expect(metrics.cos.dataSync()[0]).toBeCloseTo(1 - l / (2 * pairs), 5);
      expect(metrics.tau.dataSync()[0]).toBeCloseTo(0.99, 6);
      expect(metrics.z_std.dataSync()[0]).toBeGreaterThan(0);
    }
  });

  it('trains: the loss falls on a fixed batch', () => {
    const obj = built();
    const vars = obj.trainableVariables();
    const batch = viewBatch(7, 8, 2);
    const opt = tf.train.adam(0.05);
    const losses: number[] = [];
    for (let k = 0; k < 15; k++) {
      const { value, grads } = tf.variableGrads(() => obj.loss(batch).loss, vars);
      opt.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
      losses.push(value.dataSync()[0]);
      tf.dispose([value, ...Object.values(grads)]);
      obj.afterStep!(k, 15);
    }
    expect(losses.at(-1)!).toBeLessThan(losses[0] - 0.05);
  });

  it('leaks no tensors in loss, variableGrads or afterStep', () => {
    const obj = built();
    const batch = viewBatch(8, 4, 2);
    tf.tidy(() => obj.loss(batch).loss);
    const before = tf.memory().numTensors;
    tf.dispose(tf.tidy(() => { const o = obj.loss(batch); return [o.loss, ...Object.values(o.metrics)]; }));
    expect(tf.memory().numTensors).toBe(before);
    const { value, grads } = tf.variableGrads(() => obj.loss(batch).loss, obj.trainableVariables());
    tf.dispose([value, ...Object.values(grads)]);
    obj.afterStep!(0, 10);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('gives the predictor its own learning-rate multiplier, aligned with trainableVariables', () => {
    for (const scale of [1, 10]) {
      const obj = built({ predictorLrScale: scale });
      const vars = obj.trainableVariables();
      const scales = obj.lrScales();
      expect(scales.length).toBe(vars.length);
      // 3 backbone + 5 projector variables at 1x, then the predictor's 5 (Linear kernel, BN gamma/beta, Linear kernel/bias).
      expect(scales).toEqual([...Array(8).fill(1), ...Array(5).fill(scale)]);
      const predictor = new Set((obj as unknown as { online: { predictor: { trainableWeights: { read(): tf.Variable }[] } } }).online.predictor.trainableWeights.map((w) => w.read()));
      vars.forEach((v, i) => expect(predictor.has(v)).toBe(i >= 8));
    }
  });

  it('builds the predictor without BatchNorm when predictorNorm is none', () => {
    const layers = (o: BYOL) => (o as unknown as { online: { predictor: { layers: { getClassName(): string }[] } } }).online.predictor.layers.map((l) => l.getClassName());
    expect(layers(built())).toEqual(['Dense', 'BatchNormalization', 'ReLU', 'Dense']);
    const obj = built({ predictorNorm: 'none' });
    expect(layers(obj)).toEqual(['Dense', 'ReLU', 'Dense']);
    // Linear kernel + bias twice; the hidden Linear has its bias back when no BN follows.
    expect(obj.lrScales().length - 8).toBe(4);
    const batch = viewBatch(11, 6, 2);
    const { value, grads } = tf.variableGrads(() => obj.loss(batch).loss, obj.trainableVariables());
    expect(Number.isFinite(value.dataSync()[0])).toBe(true);
    for (const v of obj.trainableVariables().slice(8)) expect(Math.max(...values(grads[v.name]).map(Math.abs))).toBeGreaterThan(0);
    tf.dispose([value, ...Object.values(grads)]);
  });

  it('validates options', () => {
    expect(createByol({}).options).toEqual({ views: 2, hiddenDim: 4096, projectionDim: 256, baseMomentum: 0.99, finalMomentum: 1, predictorLrScale: 1, predictorNorm: 'batch' });
    expect(() => createByol({ predictorNorm: 'layer' })).toThrow(/predictorNorm/);
    expect(() => createByol({ predictorLrScale: 0 })).toThrow(/predictorLrScale/);
    expect(() => createByol({ baseMomentum: 1.2 })).toThrow(/objective.options.baseMomentum/);
    expect(() => createByol({ baseMomentum: 0.9, finalMomentum: 0.8 })).toThrow(/baseMomentum must be <= finalMomentum/);
    expect(() => createByol({}).afterStep(0, 1)).toThrow(/build\(\)/);
  });
});
