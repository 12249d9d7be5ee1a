import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/engine/backend.ts';
import { buildHead, byolPredictor, byolProjector, headPresets, simclrProjector } from '../../src/objectives/heads.ts';
import { Rng } from '../../src/util/rng.ts';
import { randomMatrix } from './reference.ts';

beforeAll(async () => {
  await initBackend('cpu'); // also registers tfjs-core's gradients
});

describe('head presets quote the papers', () => {
  it('SimCLR: Linear(in, 2048) - BN - ReLU - Linear(2048, 128)', () => {
    expect(simclrProjector(512)).toEqual([
      { in: 512, out: 2048, norm: 'batch', act: 'relu' },
      { in: 2048, out: 128, norm: 'none', act: 'none' },
    ]);
  });

  it('BYOL: projector Linear(in, 4096) - BN - ReLU - Linear(4096, 256), predictor the same on 256', () => {
    expect(byolProjector(2048)).toEqual([
      { in: 2048, out: 4096, norm: 'batch', act: 'relu' },
      { in: 4096, out: 256, norm: 'none', act: 'none' },
    ]);
    expect(byolPredictor()).toEqual(byolProjector(256, 4096, 256));
    expect(Object.keys(headPresets).sort()).toEqual(['byolPredictor', 'byolProjector', 'simclrProjector']);
  });
});

describe('buildHead', () => {
  it('maps [B, in] to [B, out] with the expected layers and parameter count', () => {
    const head = buildHead(simclrProjector(6, 10, 3), { seed: 1 });
    expect(head.layers.map((l) => l.getClassName())).toEqual(['Dense', 'BatchNormalization', 'ReLU', 'Dense']);
    // Linear without bias before BN (6*10), BN gamma/beta + moving stats (4*10), last Linear with bias (10*3+3).
    expect(head.countParams()).toBe(60 + 40 + 33);
    const y = head.apply(tf.ones([5, 6]), { training: true }) as tf.Tensor;
    expect(y.shape).toEqual([5, 3]);
  });

  it('normalizes with the statistics of the current batch in training', () => {
    const head = buildHead([{ in: 4, out: 3, norm: 'batch', act: 'none' }], { seed: 2 });
    const x = tf.add(tf.tensor2d(randomMatrix(new Rng(4), 16, 4)), 5) as tf.Tensor2D; // a batch-wide offset
    const y = head.apply(x, { training: true }) as tf.Tensor2D;
    const { mean, variance } = tf.moments(y, 0);
    Array.from(mean.dataSync()).forEach((m) => expect(Math.abs(m)).toBeLessThan(1e-5));
    Array.from(variance.dataSync()).forEach((v) => expect(v).toBeCloseTo(1, 3));
  });

  it('is deterministic in its seed', () => {
    const a = buildHead(simclrProjector(3, 5, 2), { seed: 9 }).getWeights()[0].dataSync();
    const b = buildHead(simclrProjector(3, 5, 2), { seed: 9 }).getWeights()[0].dataSync();
    const c = buildHead(simclrProjector(3, 5, 2), { seed: 10 }).getWeights()[0].dataSync();
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
  });

  it('rejects empty heads, bad widths and blocks that do not chain', () => {
    expect(() => buildHead([], { seed: 1 })).toThrow(/at least one block/);
    expect(() => buildHead([{ in: 0, out: 2, norm: 'none', act: 'none' }], { seed: 1 })).toThrow(/positive integer/);
    expect(() =>
      buildHead(
        [
          { in: 3, out: 4, norm: 'none', act: 'relu' },
          { in: 5, out: 2, norm: 'none', act: 'none' },
        ],
        { seed: 1 },
      ),
    ).toThrow(/block 1 takes 5 inputs but block 0 gives 4/);
  });
});
