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

/** Softmax regression with L2 penalty `lambda`, trained by full-batch gradient descent; returns predict(). */
export function fitLogistic(X: number[][], y: number[], classes: number, opts: { lambda?: number; iters?: number; lr?: number } = {}) {
  const n = X.length;
  const d = X[0].length + 1;
  const lambda = opts.lambda ?? 1e-3;
  const lr = opts.lr ?? 0.5;
  const W = new Float64Array(classes * d);
  const xb = new Float64Array(n * d);
  X.forEach((r, i) => {
    xb.set(r, i * d);
    xb[i * d + d - 1] = 1;
  });
  const z = new Float64Array(classes);
  const softmax = (x: Float64Array, off: number) => {
    let m = -Infinity;
    for (let k = 0; k < classes; k++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += W[k * d + j] * x[off + j];
      z[k] = s;
      if (s > m) m = s;
    }
    let t = 0;
    for (let k = 0; k < classes; k++) t += z[k] = Math.exp(z[k] - m);
    for (let k = 0; k < classes; k++) z[k] /= t;
  };
  const G = new Float64Array(classes * d);
  for (let it = 0; it < (opts.iters ?? 300); it++) {
    G.fill(0);
    for (let i = 0; i < n; i++) {
      softmax(xb, i * d);
      for (let k = 0; k < classes; k++) {
        const g = z[k] - (y[i] === k ? 1 : 0);
        for (let j = 0; j < d; j++) G[k * d + j] += g * xb[i * d + j];
      }
    }
    for (let q = 0; q < W.length; q++) W[q] -= lr * (G[q] / n + lambda * W[q]);
  }
  return (x: number[]) => {
    const v = new Float64Array(d);
    v.set(x);
    v[d - 1] = 1;
    softmax(v, 0);
    let best = 0;
    for (let k = 1; k < classes; k++) if (z[k] > z[best]) best = k;
    return best;
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
