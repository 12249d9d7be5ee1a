/**
 * Rows of a row-major [n, d] matrix scaled to unit L2 norm: the one home of the normalisation
 * that cosine and Pearson similarities, kNN, mAP and the pooling of cell embeddings share.
 * Every path computes (x - shift) * scale in float64, so the float32 and float64 results and the
 * bare normalisers agree exactly.
 */

/** Per-row float64 `shift` (the row's mean with `center`, else 0) and `scale` (1 / norm; 0 for a zero row). */
export function rowNormalizers(x: ArrayLike<number>, d: number, center = false): { shift: Float64Array; scale: Float64Array } {
  const n = Math.floor(x.length / d);
  const shift = new Float64Array(n);
  const scale = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    let mean = 0;
    if (center) {
      for (let j = 0; j < d; j++) mean += x[o + j];
      mean /= d;
    }
    let ss = 0;
    for (let j = 0; j < d; j++) {
      const v = x[o + j] - mean;
      ss += v * v;
    }
    shift[i] = mean;
    // A zero row has no direction: it stays zero rather than NaN.
    scale[i] = ss > 0 ? 1 / Math.sqrt(ss) : 0;
  }
  return { shift, scale };
}

function scaleRows<T extends Float32Array | Float64Array>(x: ArrayLike<number>, d: number, center: boolean, out: T): T {
  const { shift, scale } = rowNormalizers(x, d, center);
  for (let i = 0; i < shift.length; i++) {
    const o = i * d;
    for (let j = 0; j < d; j++) out[o + j] = (x[o + j] - shift[i]) * scale[i];
  }
  return out;
}

/** Unit rows in float32; `center` subtracts each row's mean first (Pearson). */
export function unitRows(x: ArrayLike<number>, d: number, center = false): Float32Array {
  return scaleRows(x, d, center, new Float32Array(x.length));
}

/** Unit rows in float64; `center` subtracts each row's mean first (Pearson). */
export function unitRows64(x: ArrayLike<number>, d: number, center = false): Float64Array {
  return scaleRows(x, d, center, new Float64Array(x.length));
}
