/**
 * Linear probe: multinomial logistic regression on frozen, standardised features (the standard
 * evaluation of self-supervised representations, e.g. SimCLR, Chen et al. 2020), fitted full-batch
 * with L-BFGS in float64. Deterministic: zero initialisation, no sampling.
 */
import { loadNative } from '../engine/native.ts';
import { UserError } from '../util/errors.ts';
import { Rng } from '../util/rng.ts';

/** Options of {@link fitLogisticRegression}. */
export interface LogisticOptions {
  /**
   * L2 penalty on the weights (not the bias), added to the mean cross-entropy as l2/2 |W|^2.
   * Default: scikit-learn's `C` parametrisation, `1 / (C * n_train)`.
   */
  l2?: number;
  /**
   * Inverse regularisation strength as scikit-learn's `LogisticRegression(C=...)` (its objective
   * `C * sum CE + |W|^2 / 2`, which is l2 = 1 / (C n) in the mean form here). Default 1; ignored when
   * `l2` is given.
   */
  C?: number;
  /** L-BFGS iterations. Default 1000 (scikit-learn's 100 often stops short of convergence on embeddings). */
  maxIter?: number;
  /** Converged when the gradient's max-norm falls below this (scikit-learn's lbfgs `tol`). Default 1e-4. */
  tol?: number;
  /** L-BFGS memory. Default 10. */
  memory?: number;
}

/** A fitted multinomial logistic regression on standardised inputs. */
export interface LogisticModel {
  classes: string[];
  d: number;
  /** Weights [C, d + 1] (last column: bias), on standardised features. */
  w: Float64Array;
  /** Standardisation fitted on the training rows. */
  mean: Float64Array;
  scale: Float64Array;
  iterations: number;
  loss: number;
  /** Max-norm of the objective's gradient at the returned weights. */
  gradMax: number;
  /** Whether `gradMax` fell below the tolerance (otherwise the iteration cap or the line search stopped it). */
  converged: boolean;
  /** The L2 penalty used (mean form). */
  l2: number;
}

/**
 * Mean cross-entropy + l2/2 |W|^2 and its gradient, for weights `w` [C, d + 1] over standardised
 * rows `z` [n, d] with integer labels `y`.
 */
export function logisticLossAndGradient(
  w: Float64Array,
  z: Float64Array,
  y: Int32Array,
  n: number,
  d: number,
  C: number,
  l2: number,
  grad: Float64Array,
): number {
  const D = d + 1;
  grad.fill(0);
  const logits = new Float64Array(C);
  let loss = 0;
  for (let i = 0; i < n; i++) {
    const o = i * d;
    let max = -Infinity;
    for (let c = 0; c < C; c++) {
      const wo = c * D;
      let s = w[wo + d];
      for (let j = 0; j < d; j++) s += w[wo + j] * z[o + j];
      logits[c] = s;
      if (s > max) max = s;
    }
    let sum = 0;
    for (let c = 0; c < C; c++) sum += Math.exp(logits[c] - max);
    const lse = max + Math.log(sum);
    loss += lse - logits[y[i]];
    for (let c = 0; c < C; c++) {
      const g = (Math.exp(logits[c] - lse) - (c === y[i] ? 1 : 0)) / n;
      const wo = c * D;
      for (let j = 0; j < d; j++) grad[wo + j] += g * z[o + j];
      grad[wo + d] += g;
    }
  }
  loss /= n;
  for (let c = 0; c < C; c++)
    for (let j = 0; j < d; j++) {
      const v = w[c * D + j];
      loss += 0.5 * l2 * v * v;
      grad[c * D + j] += l2 * v;
    }
  return loss;
}

/**
 * The objective of {@link logisticLossAndGradient} as L-BFGS calls it: on the native engine's
 * float64 kernel when it is built (the same sums, vectorised and threaded: equal to rounding),
 * else in JS.
 */
export function logisticObjective(z: Float64Array, y: Int32Array, n: number, d: number, C: number, l2: number): (w: Float64Array, g: Float64Array) => number {
  const addon = loadNative();
  if (addon?.logisticLoss) {
    const params = Float64Array.of(n, d, C, l2);
    const native = addon.logisticLoss.bind(addon);
    return (w, g) => native(w, z, y, g, params);
  }
  return (w, g) => logisticLossAndGradient(w, z, y, n, d, C, l2, g);
}

/** Minimises `f` from `x0` with L-BFGS and a backtracking (Armijo) line search. */
export function minimizeLbfgs(
  f: (x: Float64Array, g: Float64Array) => number,
  x0: Float64Array,
  opts: { maxIter: number; tol: number; memory: number },
): { x: Float64Array; value: number; iterations: number; gradMax: number } {
  const n = x0.length;
  let x = Float64Array.from(x0);
  let g = new Float64Array(n);
  let fx = f(x, g);
  const S: Float64Array[] = [];
  const Y: Float64Array[] = [];
  const dot = (a: Float64Array, b: Float64Array) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += a[i] * b[i];
    return s;
  };
  let it = 0;
  for (; it < opts.maxIter; it++) {
    let gmax = 0;
    for (let i = 0; i < n; i++) gmax = Math.max(gmax, Math.abs(g[i]));
    if (gmax < opts.tol) break;
    // Two-loop recursion: direction = -H g.
    const q = Float64Array.from(g);
    const alpha: number[] = [];
    for (let m = S.length - 1; m >= 0; m--) {
      const a = dot(S[m], q) / dot(Y[m], S[m]);
      alpha[m] = a;
      for (let i = 0; i < n; i++) q[i] -= a * Y[m][i];
    }
    const gamma = S.length ? dot(S[S.length - 1], Y[Y.length - 1]) / dot(Y[Y.length - 1], Y[Y.length - 1]) : 1 / Math.max(1, Math.sqrt(dot(g, g)));
    for (let i = 0; i < n; i++) q[i] *= gamma;
    for (let m = 0; m < S.length; m++) {
      const b = dot(Y[m], q) / dot(Y[m], S[m]);
      for (let i = 0; i < n; i++) q[i] += S[m][i] * (alpha[m] - b);
    }
    for (let i = 0; i < n; i++) q[i] = -q[i];
    let slope = dot(g, q);
    if (!(slope < 0)) {
      // Not a descent direction: restart from steepest descent.
      S.length = 0;
      Y.length = 0;
      for (let i = 0; i < n; i++) q[i] = -g[i];
      slope = -dot(g, g);
    }
    let step = 1;
    const xn = new Float64Array(n);
    const gn = new Float64Array(n);
    let fn = Infinity;
    for (let ls = 0; ls < 40; ls++) {
      for (let i = 0; i < n; i++) xn[i] = x[i] + step * q[i];
      fn = f(xn, gn);
      if (fn <= fx + 1e-4 * step * slope) break;
      step *= 0.5;
    }
    if (!(fn < fx) && fn !== fx) break;
    const s = new Float64Array(n);
    const yv = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      s[i] = xn[i] - x[i];
      yv[i] = gn[i] - g[i];
    }
    if (dot(s, yv) > 1e-12) {
      S.push(s);
      Y.push(yv);
      if (S.length > opts.memory) {
        S.shift();
        Y.shift();
      }
    }
    const improved = fx - fn;
    x = xn;
    g = gn;
    fx = fn;
    if (improved >= 0 && improved < 1e-14 * Math.max(1, Math.abs(fx))) break;
  }
  let gradMax = 0;
  for (let i = 0; i < n; i++) gradMax = Math.max(gradMax, Math.abs(g[i]));
  return { x, value: fx, iterations: it, gradMax };
}

/** Feature mean and standard deviation (ddof 0; zero-variance features get scale 1). */
export function fitStandardizer(x: Float32Array, rows: number[], d: number): { mean: Float64Array; scale: Float64Array } {
  const mean = new Float64Array(d);
  const scale = new Float64Array(d);
  for (const i of rows) for (let j = 0; j < d; j++) mean[j] += x[i * d + j];
  for (let j = 0; j < d; j++) mean[j] /= rows.length;
  for (const i of rows) for (let j = 0; j < d; j++) scale[j] += (x[i * d + j] - mean[j]) ** 2;
  for (let j = 0; j < d; j++) scale[j] = Math.sqrt(scale[j] / rows.length) || 1;
  return { mean, scale };
}

function standardize(x: Float32Array, rows: number[], d: number, mean: Float64Array, scale: Float64Array): Float64Array {
  const z = new Float64Array(rows.length * d);
  rows.forEach((i, a) => {
    for (let j = 0; j < d; j++) z[a * d + j] = (x[i * d + j] - mean[j]) / scale[j];
  });
  return z;
}

/** Fits the probe on rows `train` of features `x` [n, d] with string labels. */
export function fitLogisticRegression(x: Float32Array, d: number, labels: string[], train: number[], opts: LogisticOptions = {}): LogisticModel {
  if (train.length === 0) throw new UserError('Linear probe: no training rows (check the split column and its train value).');
  const classes = [...new Set(train.map((i) => labels[i]))].sort();
  const C = classes.length;
  const cls = new Map(classes.map((c, k) => [c, k]));
  const y = Int32Array.from(train, (i) => cls.get(labels[i])!);
  const { mean, scale } = fitStandardizer(x, train, d);
  const z = standardize(x, train, d, mean, scale);
  const l2 = opts.l2 ?? 1 / ((opts.C ?? 1) * train.length);
  if (!(l2 >= 0 && Number.isFinite(l2))) throw new UserError(`Linear probe: the L2 penalty must be a finite number >= 0 (C > 0), got l2=${opts.l2}, C=${opts.C}.`);
  const tol = opts.tol ?? 1e-4;
  const res = minimizeLbfgs(logisticObjective(z, y, train.length, d, C, l2), new Float64Array(C * (d + 1)), {
    maxIter: opts.maxIter ?? 1000,
    tol,
    memory: opts.memory ?? 10,
  });
  return { classes, d, w: res.x, mean, scale, iterations: res.iterations, loss: res.value, gradMax: res.gradMax, converged: res.gradMax < tol, l2 };
}

/** Predicted class of each row in `rows`. */
export function predictLogistic(m: LogisticModel, x: Float32Array, rows: number[]): string[] {
  const d = m.d;
  const D = d + 1;
  const z = standardize(x, rows, d, m.mean, m.scale);
  return rows.map((_, a) => {
    let best = 0;
    let bestV = -Infinity;
    for (let c = 0; c < m.classes.length; c++) {
      let s = m.w[c * D + d];
      for (let j = 0; j < d; j++) s += m.w[c * D + j] * z[a * d + j];
      if (s > bestV) {
        bestV = s;
        best = c;
      }
    }
    return m.classes[best];
  });
}

/** Result of {@link computeLinearProbe}. */
export interface LinearProbeResult {
  trainAccuracy: number;
  testAccuracy: number;
  nTrain: number;
  nTest: number;
  classes: number;
  /** Accuracy of always predicting the most frequent training class, on the test rows. */
  chanceAccuracy: number;
  iterations: number;
  /** Whether L-BFGS reached the gradient tolerance, and the gradient's max-norm where it stopped. */
  converged: boolean;
  gradMax: number;
  /** The L2 penalty used (mean form). */
  l2: number;
  /** Test rows of a label not seen in training (counted as errors). */
  nUnseenTest: number;
}

/** Fits on `train`, scores on `train` and `test`. */
export function computeLinearProbe(x: Float32Array, d: number, labels: string[], train: number[], test: number[], opts: LogisticOptions = {}): LinearProbeResult {
  const m = fitLogisticRegression(x, d, labels, train, opts);
  const acc = (rows: number[]) => {
    const p = predictLogistic(m, x, rows);
    return rows.length ? p.filter((v, a) => v === labels[rows[a]]).length / rows.length : NaN;
  };
  const counts = new Map<string, number>();
  for (const i of train) counts.set(labels[i], (counts.get(labels[i]) ?? 0) + 1);
  const major = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0][0];
  const known = new Set(m.classes);
  return {
    trainAccuracy: acc(train),
    testAccuracy: acc(test),
    nTrain: train.length,
    nTest: test.length,
    classes: m.classes.length,
    chanceAccuracy: test.length ? test.filter((i) => labels[i] === major).length / test.length : NaN,
    iterations: m.iterations,
    converged: m.converged,
    gradMax: m.gradMax,
    l2: m.l2,
    nUnseenTest: test.filter((i) => !known.has(labels[i])).length,
  };
}

/**
 * Train / test rows: by a split column (`train` / `test` values), or, without one, a seeded
 * stratified split holding out `testFraction` of each label.
 */
export function splitRows(
  n: number,
  labels: string[],
  opts: { split?: string[]; trainValue?: string; testValue?: string; testFraction?: number; seed?: number },
): { train: number[]; test: number[] } {
  if (opts.split) {
    const tv = opts.trainValue ?? 'train';
    const te = opts.testValue ?? 'test';
    const train: number[] = [];
    const test: number[] = [];
    opts.split.forEach((s, i) => (s === tv ? train.push(i) : s === te ? test.push(i) : undefined));
    if (!train.length || !test.length) {
      throw new UserError(`Split column has ${train.length} "${tv}" and ${test.length} "${te}" rows; values seen: ${[...new Set(opts.split)].slice(0, 10).join(', ')}.`);
    }
    return { train, test };
  }
  const frac = opts.testFraction ?? 0.2;
  const by = new Map<string, number[]>();
  for (let i = 0; i < n; i++) {
    if (!by.has(labels[i])) by.set(labels[i], []);
    by.get(labels[i])!.push(i);
  }
  const rng = new Rng(opts.seed ?? 0);
  const train: number[] = [];
  const test: number[] = [];
  for (const rows of by.values()) {
    for (let a = rows.length - 1; a > 0; a--) {
      const b = rng.int(a + 1);
      [rows[a], rows[b]] = [rows[b], rows[a]];
    }
    const nt = rows.length > 1 ? Math.max(1, Math.round(frac * rows.length)) : 0;
    rows.forEach((i, a) => (a < nt ? test : train).push(i));
  }
  return { train: train.sort((a, b) => a - b), test: test.sort((a, b) => a - b) };
}
