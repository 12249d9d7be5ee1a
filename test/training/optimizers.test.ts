import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { createOptimizer, decays, type OptimizerConfig } from '../../src/training/optimizers.ts';
import { cosineSchedule, warmupCosine } from '../../src/util/schedule.ts';
import { Rng } from '../../src/util/rng.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Float64 reference of each optimizer, written from the papers' update rules. */
function reference(name: OptimizerConfig['name'], p0: number[][], grads: number[][][], lrs: number[], wd: number, decay: boolean[]): number[][] {
  const p = p0.map((a) => [...a]);
  const s1 = p0.map((a) => a.map(() => 0));
  const s2 = p0.map((a) => a.map(() => 0));
  grads.forEach((gs, t) => {
    const lr = lrs[t];
    gs.forEach((g, i) => {
      const d = decay[i];
      if (name === 'adam') {
        for (let j = 0; j < g.length; j++) {
          s1[i][j] = 0.9 * s1[i][j] + 0.1 * g[j];
          s2[i][j] = 0.999 * s2[i][j] + 0.001 * g[j] * g[j];
          const mh = s1[i][j] / (1 - 0.9 ** (t + 1));
          const vh = s2[i][j] / (1 - 0.999 ** (t + 1));
          p[i][j] -= lr * (mh / (Math.sqrt(vh) + 1e-8) + (d ? wd * p[i][j] : 0));
        }
      } else {
        const gd = g.map((v, j) => v + (d ? wd * p[i][j] : 0));
        let trust = 1;
        if (name === 'lars' && d) {
          const pn = Math.hypot(...p[i]);
          const gn = Math.hypot(...gd);
          trust = pn > 0 && gn > 0 ? (0.001 * pn) / gn : 1;
        }
        for (let j = 0; j < g.length; j++) {
          s1[i][j] = 0.9 * s1[i][j] + gd[j] * trust;
          p[i][j] -= lr * s1[i][j];
        }
      }
    });
  });
  return p;
}

describe('optimizers against float64 references', () => {
  for (const [name, fused] of [['adam', true], ['adam', false], ['sgd', true], ['lars', true]] as const) {
    it(`${name}${fused ? '' : ' (tf ops, not fused)'}: 4 steps, decay on the kernel only`, () => {
      const rng = new Rng(name.length);
      const kernel = Array.from({ length: 6 }, () => rng.normal());
      const bias = Array.from({ length: 3 }, () => rng.normal());
      const vars = [tf.variable(tf.tensor2d(kernel, [2, 3])), tf.variable(tf.tensor1d(bias))];
      expect(vars.map(decays)).toEqual([true, false]);
      const opt = createOptimizer({ name, weightDecay: 0.1, momentum: 0.9, fused }, vars);
      const grads = Array.from({ length: 4 }, () => [Array.from({ length: 6 }, () => rng.normal()), Array.from({ length: 3 }, () => rng.normal())]);
      const lrs = [0.1, 0.05, 0.2, 0.01];
      grads.forEach((g, t) => {
        const gt = [tf.tensor2d(g[0], [2, 3]), tf.tensor1d(g[1])];
        opt.apply(gt, lrs[t]);
        gt.forEach((x) => x.dispose());
      });
      const want = reference(name, [kernel, bias], grads, lrs, 0.1, [true, false]);
      vars.forEach((v, i) => {
        const got = Array.from(v.dataSync());
        got.forEach((x, j) => expect(Math.abs(x - want[i][j])).toBeLessThan(1e-5 * Math.max(1, Math.abs(want[i][j]))));
      });
      const st = opt.getState();
      expect(st.iterations).toBe(4);
      opt.dispose();
    });
  }
});

describe('per-parameter learning-rate multipliers', () => {
  for (const [name, fused] of [['adam', true], ['adam', false], ['sgd', true], ['lars', true]] as const) {
    it(`${name}${fused ? '' : ' (tf ops)'}: lrScales[i] multiplies the lr of params[i] exactly`, () => {
      const rng = new Rng(7 + name.length);
      const kernel = Array.from({ length: 6 }, () => rng.normal());
      const bias = Array.from({ length: 3 }, () => rng.normal());
      const vars = [tf.variable(tf.tensor2d(kernel, [2, 3])), tf.variable(tf.tensor1d(bias))];
      const opt = createOptimizer({ name, weightDecay: 0.1, momentum: 0.9, fused }, vars, [1, 10]);
      const grads = Array.from({ length: 3 }, () => [Array.from({ length: 6 }, () => rng.normal()), Array.from({ length: 3 }, () => rng.normal())]);
      const lrs = [0.01, 0.005, 0.02];
      for (const g of grads) {
        const gt = [tf.tensor2d(g[0], [2, 3]), tf.tensor1d(g[1])];
        opt.apply(gt, lrs[grads.indexOf(g)]);
        gt.forEach((x) => x.dispose());
      }
      // Kernel at 1x, bias at 10x: the reference runs each with its own lr sequence.
      const wantKernel = reference(name, [kernel, bias], grads, lrs, 0.1, [true, false])[0];
      const wantBias = reference(name, [kernel, bias], grads, lrs.map((l) => 10 * l), 0.1, [true, false])[1];
      const check = (got: number[], want: number[]) => got.forEach((x, j) => expect(Math.abs(x - want[j])).toBeLessThan(1e-5 * Math.max(1, Math.abs(want[j]))));
      check(Array.from(vars[0].dataSync()), wantKernel);
      check(Array.from(vars[1].dataSync()), wantBias);
      opt.dispose();
    });
  }

  it('refuses multipliers that do not match the parameters or are negative', () => {
    const vars = [tf.variable(tf.zeros([2]))];
    expect(() => createOptimizer({ name: 'sgd' }, vars, [1, 1])).toThrow(/2 lr multipliers for 1 parameters/);
    expect(() => createOptimizer({ name: 'adam' }, vars, [-1])).toThrow(/finite and >= 0/);
  });
});

describe('schedules', () => {
  it('warmupCosine: linear warmup, cosine to finalLr at the last step', () => {
    const o = { baseLr: 1, warmupSteps: 4, totalSteps: 14, finalLr: 0.1 };
    expect([0, 1, 2, 3].map((s) => warmupCosine(s, o))).toEqual([0.25, 0.5, 0.75, 1]);
    expect(warmupCosine(4, o)).toBeCloseTo(1, 12);
    expect(warmupCosine(13, o)).toBeCloseTo(0.1, 12);
    // Midpoint of the cosine phase (steps 4..13, 9 intervals) is the mean of base and final.
    expect(cosineSchedule(4.5, 9, 1, 0.1)).toBeCloseTo(0.55, 12);
  });
  it('cosineSchedule clamps outside [0, total]', () => {
    expect(cosineSchedule(-3, 10, 0.99, 1)).toBe(0.99);
    expect(cosineSchedule(20, 10, 0.99, 1)).toBe(1);
  });
});
