/**
 * Test helpers for the data layer: a plain multinomial logistic regression (float64, full-batch
 * gradient descent) and image descriptors, used to check what the synthetic data lets a linear
 * model see.
 */

/**
 * Standardises columns of the rows `apply` of `X` (default all) with the means/stds of the rows
 * `fit` (in place); returns X.
 */
export function standardise(X: number[][], fit: number[] = X.map((_, i) => i), apply: number[] = X.map((_, i) => i)): number[][] {
  const d = X[0].length;
  for (let j = 0; j < d; j++) {
    let m = 0;
    for (const i of fit) m += X[i][j];
    m /= fit.length;
    let v = 0;
    for (const i of fit) v += (X[i][j] - m) ** 2;
    const s = Math.sqrt(v / fit.length) || 1;
    for (const i of apply) X[i][j] = (X[i][j] - m) / s;
  }
  return X;
}

/** Softmax regression with L2 penalty `lambda`, trained by gradient descent; returns predict(). */
export function fitLogistic(X: number[][], y: number[], classes: number, opts: { lambda?: number; iters?: number; lr?: number } = {}) {
  const n = X.length;
  const d = X[0].length + 1;
  const lambda = opts.lambda ?? 1e-3;
  const lr = opts.lr ?? 0.5;
  const W = Array.from({ length: classes }, () => new Float64Array(d));
  const xb = X.map((r) => [...r, 1]);
  const probs = (x: number[]) => {
    const z = W.map((w) => w.reduce((s, wi, j) => s + wi * x[j], 0));
    const m = Math.max(...z);
    const e = z.map((v) => Math.exp(v - m));
    const t = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / t);
  };
  for (let it = 0; it < (opts.iters ?? 300); it++) {
    const G = Array.from({ length: classes }, () => new Float64Array(d));
    for (let i = 0; i < n; i++) {
      const p = probs(xb[i]);
      for (let k = 0; k < classes; k++) {
        const g = p[k] - (y[i] === k ? 1 : 0);
        for (let j = 0; j < d; j++) G[k][j] += g * xb[i][j];
      }
    }
    for (let k = 0; k < classes; k++) for (let j = 0; j < d; j++) W[k][j] -= lr * (G[k][j] / n + lambda * W[k][j]);
  }
  return (x: number[]) => {
    const p = probs([...x, 1]);
    return p.indexOf(Math.max(...p));
  };
}

/** Accuracy of `predict` on rows `idx`. */
export function accuracy(predict: (x: number[]) => number, X: number[][], y: number[], idx: number[]): number {
  return idx.filter((i) => predict(X[i]) === y[i]).length / idx.length;
}

/** Per-channel mean and std of an HWC image: [m0, s0, m1, s1, ...]. */
export function meanStd(px: ArrayLike<number>, C: number): number[] {
  const out: number[] = [];
  const n = px.length / C;
  for (let c = 0; c < C; c++) {
    let s = 0;
    let s2 = 0;
    for (let i = c; i < px.length; i += C) {
      s += px[i];
      s2 += px[i] * px[i];
    }
    const m = s / n;
    out.push(m, Math.sqrt(Math.max(0, s2 / n - m * m)));
  }
  return out;
}

/**
 * Richer per-image descriptors, per channel: mean, std, quantiles (50/90/99 %), foreground
 * fraction (above the midpoint of p50 and p99), mean gradient magnitude, local-maximum count.
 */
export function richFeatures(px: ArrayLike<number>, H: number, W: number, C: number): number[] {
  const out: number[] = [];
  for (let c = 0; c < C; c++) {
    const v = new Float64Array(H * W);
    for (let i = 0; i < H * W; i++) v[i] = px[i * C + c];
    const s = Float64Array.from(v).sort();
    const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
    const [m, sd] = meanStd(v, 1);
    const thr = (q(0.5) + q(0.99)) / 2;
    let fg = 0;
    let grad = 0;
    let peaks = 0;
    for (let y = 1; y < H - 1; y++) {
      for (let x = 1; x < W - 1; x++) {
        const i = y * W + x;
        if (v[i] > thr) fg++;
        grad += Math.abs(v[i + 1] - v[i - 1]) + Math.abs(v[i + W] - v[i - W]);
        if (v[i] > thr && v[i] >= v[i - 1] && v[i] >= v[i + 1] && v[i] >= v[i - W] && v[i] >= v[i + W]) peaks++;
      }
    }
    const rng = q(0.99) - q(0.5) || 1;
    out.push(m, sd, q(0.5), q(0.9), q(0.99), fg / (H * W), grad / (H * W) / rng, peaks, sd / (m || 1));
  }
  return out;
}
