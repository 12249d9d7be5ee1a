import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import {
  computeLinearProbe,
  fitLogisticRegression,
  logisticLossAndGradient,
  logisticObjective,
  splitRows,
} from '../../src/evaluation/linear-probe.ts';
import { Rng } from '../../src/util/rng.ts';
import { loadNative } from '../../src/engine/native.ts';

function blobs(seed: number, perClass: number, C: number, d: number, sep: number) {
  const rng = new Rng(seed);
  const centers = Array.from({ length: C }, () => Array.from({ length: d }, () => sep * rng.normal()));
  const x: number[] = [];
  const labels: string[] = [];
  for (let c = 0; c < C; c++)
    for (let i = 0; i < perClass; i++) {
      x.push(...centers[c].map((m) => m + rng.normal()));
      labels.push(`c${c}`);
    }
  return { x: Float32Array.from(x), labels, n: C * perClass };
}

describe('linear probe (multinomial logistic regression, L-BFGS)', () => {
  it('gradient matches central finite differences', () => {
    const rng = new Rng(1);
    const n = 12;
    const d = 3;
    const C = 4;
    const z = Float64Array.from({ length: n * d }, () => rng.normal());
    const y = Int32Array.from({ length: n }, () => rng.int(C));
    const w = Float64Array.from({ length: C * (d + 1) }, () => 0.3 * rng.normal());
    const g = new Float64Array(w.length);
    logisticLossAndGradient(w, z, y, n, d, C, 0.1, g);
    const tmp = new Float64Array(w.length);
    for (let p = 0; p < w.length; p++) {
      const h = 1e-6;
      const wp = Float64Array.from(w);
      wp[p] += h;
      const wm = Float64Array.from(w);
      wm[p] -= h;
      const fd = (logisticLossAndGradient(wp, z, y, n, d, C, 0.1, tmp) - logisticLossAndGradient(wm, z, y, n, d, C, 0.1, tmp)) / (2 * h);
      expect(g[p]).toBeCloseTo(fd, 6);
    }
  });

  it('converges to the regularised optimum (gradient ~ 0) deterministically', () => {
    const { x, labels, n } = blobs(2, 30, 3, 5, 1);
    const rows = [...Array(n).keys()];
    const a = fitLogisticRegression(x, 5, labels, rows, { l2: 0.01, tol: 1e-9, maxIter: 1000 });
    const b = fitLogisticRegression(x, 5, labels, rows, { l2: 0.01, tol: 1e-9, maxIter: 1000 });
    expect(Array.from(a.w)).toEqual(Array.from(b.w));
    // Re-evaluate the gradient at the solution on the standardised data.
    const z = new Float64Array(n * 5);
    for (let i = 0; i < n; i++) for (let j = 0; j < 5; j++) z[i * 5 + j] = (x[i * 5 + j] - a.mean[j]) / a.scale[j];
    const y = Int32Array.from(labels, (l) => a.classes.indexOf(l));
    const g = new Float64Array(a.w.length);
    logisticLossAndGradient(a.w, z, y, n, 5, 3, 0.01, g);
    expect(Math.max(...g.map(Math.abs))).toBeLessThan(1e-7);
  });

  it('separates well-separated blobs and reports chance level', () => {
    const { x, labels, n } = blobs(3, 40, 4, 8, 3);
    const { train, test } = splitRows(n, labels, { testFraction: 0.25, seed: 1 });
    expect(test.length).toBe(40);
    const r = computeLinearProbe(x, 8, labels, train, test);
    expect(r.testAccuracy).toBeGreaterThan(0.95);
    expect(r.chanceAccuracy).toBeCloseTo(0.25, 6);
    const split = labels.map((_, i) => (i % 2 ? 'test' : 'train'));
    const bySplit = splitRows(n, labels, { split });
    expect(bySplit.train.length).toBe(80);
  });
});

describe('linear probe against scikit-learn', () => {
  // test/fixtures/sklearn-logistic.json: bench/peer-sklearn-probe.py, StandardScaler +
  // LogisticRegression(C, lbfgs, multinomial) fitted to 1e-10 on the same rows.
  const ref = JSON.parse(readFileSync(new URL('../fixtures/sklearn-logistic.json', import.meta.url), 'utf8')) as {
    d: number;
    xTrain: number[];
    yTrain: string[];
    xTest: number[];
    yTest: string[];
    fits: { C: number; coef: number[]; intercept: number[]; testPredictions: string[]; testAccuracy: number }[];
  };
  const x = Float32Array.from([...ref.xTrain, ...ref.xTest]);
  const labels = [...ref.yTrain, ...ref.yTest];
  const train = ref.yTrain.map((_, i) => i);
  const test = ref.yTest.map((_, i) => ref.yTrain.length + i);

  it.each(ref.fits.map((f) => [f.C, f]))('C = %s: same coefficients, predictions and accuracy; converged', (C, f) => {
    const atDefault = fitLogisticRegression(x, ref.d, labels, train, { C: C as number });
    expect(atDefault.converged).toBe(true);
    expect(atDefault.gradMax).toBeLessThan(1e-4);
    expect(atDefault.l2).toBeCloseTo(1 / ((C as number) * train.length), 15);
    // Both minimise the same strictly convex objective: fitted tightly, the optima agree.
    const m = fitLogisticRegression(x, ref.d, labels, train, { C: C as number, tol: 1e-9, maxIter: 20000 });
    const D = ref.d + 1;
    let maxErr = 0;
    m.classes.forEach((_, c) => {
      for (let j = 0; j < ref.d; j++) maxErr = Math.max(maxErr, Math.abs(m.w[c * D + j] - f.coef[c * ref.d + j]));
      maxErr = Math.max(maxErr, Math.abs(m.w[c * D + ref.d] - f.intercept[c]));
    });
    expect(maxErr).toBeLessThan(1e-4);
    const r = computeLinearProbe(x, ref.d, labels, train, test, { C: C as number });
    expect(r.testAccuracy).toBeCloseTo(f.testAccuracy, 12);
  });
});

describe.skipIf(!loadNative()?.logisticLoss)('linear probe objective on the native engine', () => {
  it('equals the JS objective and gradient to rounding, on one thread and on several', () => {
    const rng = new Rng(11);
    for (const [n, d, C] of [
      [7, 3, 2],
      [5000, 128, 10],
    ] as const) {
      const z = Float64Array.from({ length: n * d }, () => rng.normal());
      const y = Int32Array.from({ length: n }, () => rng.int(C));
      const w = Float64Array.from({ length: C * (d + 1) }, () => 0.1 * rng.normal());
      const gJs = new Float64Array(w.length);
      const gNative = new Float64Array(w.length);
      const fJs = logisticLossAndGradient(w, z, y, n, d, C, 0.01, gJs);
      const fNative = logisticObjective(z, y, n, d, C, 0.01)(w, gNative);
      expect(Math.abs(fNative - fJs)).toBeLessThan(1e-12 * Math.abs(fJs));
      let gmax = 0;
      let dmax = 0;
      for (let k = 0; k < w.length; k++) {
        gmax = Math.max(gmax, Math.abs(gJs[k]));
        dmax = Math.max(dmax, Math.abs(gNative[k] - gJs[k]));
      }
      expect(dmax).toBeLessThan(1e-12 * gmax);
    }
  });
});
