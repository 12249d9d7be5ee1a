/**
 * Z'-factor and its leave-wells-out projection (evaluation/z-prime.ts): the factor against hand
 * computation, the Ledoit-Wolf shrinkage against the paper's definition written as a naive loop,
 * the LDA direction against the normal equations, and the cross-validation against a fold refitted
 * by hand (a held-out well is scored by a projection that never saw it).
 */
import { describe, expect, it } from 'vitest';
import { crossValidatedZPrime, fitControlProjection, ledoitWolfCovariance, projectRow, stratifiedFolds, zPrimeFactor } from '../../src/evaluation/z-prime.ts';
import { metrics } from '../../src/evaluation/metric.ts';
import '../../src/evaluation/metrics.ts';
import type { ProfileTable } from '../../src/tables/profile-table.ts';
import { Rng } from '../../src/util/rng.ts';

/** Ledoit & Wolf (2004), Lemma 3.2-3.4, in their normalised Frobenius norm ||A||^2 = tr(A A^T) / d. */
function naiveLedoitWolf(x: number[][]): number {
  const n = x.length, d = x[0].length;
  const norm2 = (a: number[][]) => a.flat().reduce((s, v) => s + v * v, 0) / d;
  const s = Array.from({ length: d }, (_, i) => Array.from({ length: d }, (_, j) => x.reduce((acc, r) => acc + r[i] * r[j], 0) / n));
  const m = s.reduce((acc, r, i) => acc + r[i], 0) / d;
  const d2 = norm2(s.map((r, i) => r.map((v, j) => v - (i === j ? m : 0))));
  let b2 = 0;
  for (const r of x) b2 += norm2(s.map((row, i) => row.map((v, j) => r[i] * r[j] - v)));
  b2 = Math.min(b2 / (n * n), d2);
  return b2 / d2;
}

function table(features: number[][], types: string[]): ProfileTable {
  const n = features.length, d = features[0].length;
  return {
    n,
    d,
    featureNames: Array.from({ length: d }, (_, j) => `f${j}`),
    features: Float32Array.from(features.flat()),
    meta: { Metadata_Well: types.map((_, i) => `W${i}`), Metadata_WellType: types },
  };
}

describe("Z'-factor", () => {
  it('is 1 - 3 (sd_pos + sd_neg) / |mean_pos - mean_neg| with sample SDs', () => {
    // pos: mean 2, sd 1; neg: mean 11, sd sqrt(2).
    expect(zPrimeFactor([1, 2, 3], [10, 12])).toBeCloseTo(1 - (3 * (1 + Math.SQRT2)) / 9, 12);
    expect(zPrimeFactor([5, 5.1], [0, 0.1])).toBeCloseTo(1 - (3 * (2 * Math.sqrt(0.005))) / 5, 12);
    expect(zPrimeFactor([1], [0, 1])).toBeNaN();
  });
});

describe('Ledoit-Wolf shrinkage', () => {
  it('matches the definition of Ledoit & Wolf (2004) and shrinks toward tr(S)/d', () => {
    const rng = new Rng(4);
    for (const [n, d] of [[12, 3], [7, 10], [30, 5]]) {
      const rows = Array.from({ length: n }, () => Array.from({ length: d }, (_, j) => rng.normal() * (1 + j)));
      const { cov, shrinkage } = ledoitWolfCovariance(Float64Array.from(rows.flat()), n, d);
      expect(shrinkage).toBeCloseTo(naiveLedoitWolf(rows), 10);
      expect(shrinkage).toBeGreaterThan(0);
      expect(shrinkage).toBeLessThanOrEqual(1);
      const mu = rows.flat().reduce((s, v) => s + v * v, 0) / n / d;
      const s01 = rows.reduce((acc, r) => acc + r[0] * r[1], 0) / n;
      expect(cov[1]).toBeCloseTo((1 - shrinkage) * s01, 10);
      const s00 = rows.reduce((acc, r) => acc + r[0] * r[0], 0) / n;
      expect(cov[0]).toBeCloseTo((1 - shrinkage) * s00 + shrinkage * mu, 10);
    }
  });
});

describe('control projection', () => {
  const rng = new Rng(9);
  // 10 negatives around 0, 6 positives shifted by 12 sd along feature 0 (and 1 along feature 1); feature 2 noise.
  const feats = [
    ...Array.from({ length: 10 }, () => [rng.normal(), rng.normal(), 3 * rng.normal()]),
    ...Array.from({ length: 6 }, () => [12 + rng.normal(), 1 + rng.normal(), 3 * rng.normal()]),
  ];
  const types = [...Array(10).fill('negative_control'), ...Array(6).fill('positive_control')];
  const t = table(feats, types);
  const rows = Array.from({ length: 16 }, (_, i) => i);
  const positive = types.map((x) => x === 'positive_control');

  it('mean-difference: w is the difference of class means of the standardised features; negatives score 0, positives 1 on average', () => {
    const p = fitControlProjection(t.features, 3, rows, positive, 'mean-difference');
    for (let j = 0; j < 3; j++) {
      const col = feats.map((r) => r[j]);
      const m = col.reduce((a, b) => a + b, 0) / 16;
      const sd = Math.sqrt(col.reduce((a, b) => a + (b - m) ** 2, 0) / 16);
      const z = col.map((v) => (v - m) / sd);
      const want = z.slice(10).reduce((a, b) => a + b, 0) / 6 - z.slice(0, 10).reduce((a, b) => a + b, 0) / 10;
      expect(p.w[j]).toBeCloseTo(want, 5);
    }
    const scores = rows.map((i) => projectRow(p, t.features, 3, i));
    expect(scores.slice(0, 10).reduce((a, b) => a + b, 0) / 10).toBeCloseTo(0, 10);
    expect(scores.slice(10).reduce((a, b) => a + b, 0) / 6).toBeCloseTo(1, 10);
  });

  it('lda: w solves (shrunk pooled within-class covariance) w = mean difference, the shrinkage on the within-class correlations', () => {
    const p = fitControlProjection(t.features, 3, rows, positive, 'lda');
    // Rebuild the covariance from the fit's standardisation and the class means, then check the residual.
    const z = feats.map((r) => r.map((v, j) => (Math.fround(v) - p.center[j]) / p.scale[j]));
    const mean = (cls: boolean) => [0, 1, 2].map((j) => z.filter((_, i) => positive[i] === cls).reduce((a, r) => a + r[j], 0) / (cls ? 6 : 10));
    const mp = mean(true), mn = mean(false);
    // Pooled within-class deviations scaled to unit SD, Ledoit-Wolf, scaled back.
    const within = z.map((r, i) => r.map((v, j) => v - (positive[i] ? mp[j] : mn[j])));
    const sd = [0, 1, 2].map((j) => Math.sqrt(within.reduce((a, r) => a + r[j] ** 2, 0) / 16));
    const lw = ledoitWolfCovariance(Float64Array.from(within.flatMap((r) => r.map((v, j) => v / sd[j]))), 16, 3);
    const cov = Array.from(lw.cov, (v, k) => v * sd[Math.floor(k / 3)] * sd[k % 3]);
    expect(lw.shrinkage).toBeCloseTo(p.shrinkage, 12);
    for (let i = 0; i < 3; i++) {
      const lhs = [0, 1, 2].reduce((a, j) => a + cov[i * 3 + j] * p.w[j], 0);
      expect(lhs).toBeCloseTo(mp[i] - mn[i], 6);
    }
  });

  it('leave one well out: each control is scored by the projection fitted on the others', () => {
    const r = crossValidatedZPrime(t, { positive: { column: 'WellType', value: 'positive_control' }, negative: { column: 'WellType', value: 'negative_control' } });
    expect(r.folds).toBe(16);
    for (const held of [0, 13]) {
      const others = rows.filter((i) => i !== held);
      const p = fitControlProjection(t.features, 3, others, others.map((i) => positive[i]), 'lda');
      expect(r.scores[held].score).toBeCloseTo(projectRow(p, t.features, 3, held), 10);
    }
    const pos = r.scores.filter((s) => s.positive).map((s) => s.score);
    const neg = r.scores.filter((s) => !s.positive).map((s) => s.score);
    expect(r.zPrime).toBeCloseTo(zPrimeFactor(pos, neg), 12);
    expect(r.zPrime).toBeGreaterThan(0);
  });

  it('held-out scoring does not reward noise: on features without signal Z\' is far below the in-sample value', () => {
    const noise = new Rng(2);
    const tn = table(Array.from({ length: 24 }, () => Array.from({ length: 20 }, () => noise.normal())), [...Array(16).fill('negative_control'), ...Array(8).fill('positive_control')]);
    const cv = crossValidatedZPrime(tn, { positive: { column: 'WellType', value: 'positive_control' }, negative: { column: 'WellType', value: 'negative_control' } });
    const all = Array.from({ length: 24 }, (_, i) => i);
    const p = fitControlProjection(tn.features, 20, all, all.map((i) => i >= 16), 'lda');
    const inSample = zPrimeFactor(all.slice(16).map((i) => projectRow(p, tn.features, 20, i)), all.slice(0, 16).map((i) => projectRow(p, tn.features, 20, i)));
    expect(cv.zPrime).toBeLessThan(-1);
    expect(inSample).toBeGreaterThan(cv.zPrime + 2);
  });

  it('k folds keep both classes in every fold; the registered metric reports the same Z\'', async () => {
    const fold = stratifiedFolds(positive, 4, 1);
    for (let f = 0; f < 4; f++) {
      expect(positive.filter((p, i) => p && fold[i] === f).length).toBeGreaterThanOrEqual(1);
      expect(positive.filter((p, i) => !p && fold[i] === f).length).toBeGreaterThanOrEqual(2);
    }
    const k4 = crossValidatedZPrime(t, { positive: { column: 'WellType', value: 'positive_control' }, negative: { column: 'WellType', value: 'negative_control' }, folds: 4, seed: 1 });
    expect(k4.folds).toBe(4);
    expect(Number.isFinite(k4.zPrime)).toBe(true);
    const m = await metrics.get('z-prime').compute({ table: t, columns: { control: { column: 'Metadata_WellType', value: 'negative_control' }, positiveControl: { column: 'Metadata_WellType', value: 'positive_control' } }, seed: 0, options: {} });
    const loo = crossValidatedZPrime(t, { positive: { column: 'WellType', value: 'positive_control' }, negative: { column: 'WellType', value: 'negative_control' } });
    expect(m.summary.z_prime).toBeCloseTo(loo.zPrime, 12);
    expect(m.tables.per_well).toHaveLength(16);
  });
});
