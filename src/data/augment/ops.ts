/**
 * Image kernels on float32 HWC buffers (plain typed-array loops: on this machine they beat
 * dispatching per-image tf ops on wasm by a wide margin, see bench/data.ts). Each is checked
 * against the equivalent tfjs op in test/data/augment.test.ts.
 */

/** A float32 image, HWC (row-major, channels interleaved). */
export interface Image32 {
  data: Float32Array;
  height: number;
  width: number;
  channels: number;
}

/** Converts stored samples (uint8 / uint16) to a float image scaled to [0, 1]. */
export function toFloat(px: ArrayLike<number>, height: number, width: number, channels: number, maxValue: number): Image32 {
  const data = new Float32Array(px.length);
  const s = 1 / maxValue;
  for (let i = 0; i < px.length; i++) data[i] = px[i] * s;
  return { data, height, width, channels };
}

/** Rotates by k * 90 degrees counter-clockwise (as `np.rot90(img, k)`); k in 0..3. */
export function rot90(img: Image32, k: number): Image32 {
  k = ((k % 4) + 4) % 4;
  if (k === 0) return img;
  const { height: H, width: W, channels: C, data } = img;
  const oh = k === 2 ? H : W;
  const ow = k === 2 ? W : H;
  const out = new Float32Array(data.length);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      // Source of output (y, x): k=1 -> (x, W-1-y); k=2 -> (H-1-y, W-1-x); k=3 -> (H-1-x, y).
      const sy = k === 1 ? x : k === 2 ? H - 1 - y : H - 1 - x;
      const sx = k === 1 ? W - 1 - y : k === 2 ? W - 1 - x : y;
      const s = (sy * W + sx) * C;
      const d = (y * ow + x) * C;
      for (let c = 0; c < C; c++) out[d + c] = data[s + c];
    }
  }
  return { data: out, height: oh, width: ow, channels: C };
}

/** Mirrors left-right (`horizontal`) or top-bottom. */
export function flip(img: Image32, horizontal: boolean): Image32 {
  const { height: H, width: W, channels: C, data } = img;
  const out = new Float32Array(data.length);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const s = horizontal ? (y * W + (W - 1 - x)) * C : ((H - 1 - y) * W + x) * C;
      const d = (y * W + x) * C;
      for (let c = 0; c < C; c++) out[d + c] = data[s + c];
    }
  }
  return { data: out, height: H, width: W, channels: C };
}

/**
 * Crops the normalised box [y1, x1, y2, x2] and resizes it to outH x outW with bilinear
 * sampling, with exactly the coordinate convention of `tf.image.cropAndResize`:
 * y = y1 (H-1) + i (y2-y1)(H-1)/(outH-1).
 */
export function cropResize(img: Image32, box: [number, number, number, number], outH: number, outW: number): Image32 {
  const { height: H, width: W, channels: C, data } = img;
  const [y1, x1, y2, x2] = box;
  const out = new Float32Array(outH * outW * C);
  const sy = outH > 1 ? ((y2 - y1) * (H - 1)) / (outH - 1) : 0;
  const sx = outW > 1 ? ((x2 - x1) * (W - 1)) / (outW - 1) : 0;
  const x0s = new Int32Array(outW);
  const x1s = new Int32Array(outW);
  const fxs = new Float32Array(outW);
  for (let x = 0; x < outW; x++) {
    const fx = outW > 1 ? x1 * (W - 1) + x * sx : 0.5 * (x1 + x2) * (W - 1);
    const xl = Math.floor(fx);
    x0s[x] = Math.min(Math.max(xl, 0), W - 1);
    x1s[x] = Math.min(Math.max(xl + 1, 0), W - 1);
    fxs[x] = fx - xl;
  }
  for (let y = 0; y < outH; y++) {
    const fy = outH > 1 ? y1 * (H - 1) + y * sy : 0.5 * (y1 + y2) * (H - 1);
    const yl = Math.floor(fy);
    const ya = Math.min(Math.max(yl, 0), H - 1);
    const yb = Math.min(Math.max(yl + 1, 0), H - 1);
    const wy = fy - yl;
    for (let x = 0; x < outW; x++) {
      const wx = fxs[x];
      const a = (ya * W + x0s[x]) * C;
      const b = (ya * W + x1s[x]) * C;
      const c0 = (yb * W + x0s[x]) * C;
      const d = (yb * W + x1s[x]) * C;
      const o = (y * outW + x) * C;
      for (let c = 0; c < C; c++) {
        const top = data[a + c] + (data[b + c] - data[a + c]) * wx;
        const bot = data[c0 + c] + (data[d + c] - data[c0 + c]) * wx;
        out[o + c] = top + (bot - top) * wy;
      }
    }
  }
  return { data: out, height: outH, width: outW, channels: C };
}

/** Normalised Gaussian kernel of radius ceil(3 sigma) (at least 1). */
export function gaussianKernel1d(sigma: number): Float32Array {
  const r = Math.max(1, Math.ceil(3 * sigma));
  const k = new Float32Array(2 * r + 1);
  let s = 0;
  for (let i = -r; i <= r; i++) s += k[i + r] = Math.exp((-i * i) / (2 * sigma * sigma));
  for (let i = 0; i < k.length; i++) k[i] /= s;
  return k;
}

/** Separable Gaussian blur, edges clamped (replicated). */
export function gaussianBlur(img: Image32, sigma: number): Image32 {
  const { height: H, width: W, channels: C, data } = img;
  const k = gaussianKernel1d(sigma);
  const K = k.length;
  const r = (K - 1) / 2;
  // Clamped source offsets per output position, so the inner loops have no branches.
  const xo = new Int32Array(W * K);
  for (let x = 0; x < W; x++) for (let j = 0; j < K; j++) xo[x * K + j] = Math.min(W - 1, Math.max(0, x + j - r)) * C;
  const yo = new Int32Array(H * K);
  for (let y = 0; y < H; y++) for (let j = 0; j < K; j++) yo[y * K + j] = Math.min(H - 1, Math.max(0, y + j - r)) * W * C;
  const tmp = new Float32Array(data.length);
  const out = new Float32Array(data.length);
  const rowLen = W * C;
  for (let y = 0; y < H; y++) {
    const base = y * rowLen;
    for (let x = 0; x < W; x++) {
      const o = base + x * C;
      const xk = x * K;
      for (let c = 0; c < C; c++) {
        let acc = 0;
        for (let j = 0; j < K; j++) acc += k[j] * data[base + xo[xk + j] + c];
        tmp[o + c] = acc;
      }
    }
  }
  for (let y = 0; y < H; y++) {
    const yk = y * K;
    const o = y * rowLen;
    for (let j = 0; j < K; j++) {
      const w = k[j];
      const src = yo[yk + j];
      for (let i = 0; i < rowLen; i++) out[o + i] += w * tmp[src + i];
    }
  }
  return { data: out, height: H, width: W, channels: C };
}

/**
 * Per-image per-channel standardisation, (x - mean_c) / std_c over the image's pixels (as in
 * WILDS RxRx1 and the BEN paper); a constant channel (std < 1e-8) is only centred. In place.
 */
export function standardize(img: Image32): Image32 {
  const { channels: C, data } = img;
  const n = data.length / C;
  const mean = new Float64Array(C);
  const sq = new Float64Array(C);
  for (let i = 0; i < data.length; i += C) {
    for (let c = 0; c < C; c++) {
      const v = data[i + c];
      mean[c] += v;
      sq[c] += v * v;
    }
  }
  const inv = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    mean[c] /= n;
    const sd = Math.sqrt(Math.max(sq[c] / n - mean[c] * mean[c], 0));
    inv[c] = sd < 1e-8 ? 1 : 1 / sd;
  }
  for (let i = 0; i < data.length; i += C) for (let c = 0; c < C; c++) data[i + c] = (data[i + c] - mean[c]) * inv[c];
  return img;
}

/** Per-channel affine intensity change x * scale_c + shift_c, in place. */
export function scaleShift(img: Image32, scale: ArrayLike<number>, shift: ArrayLike<number>): Image32 {
  const { channels: C, data } = img;
  for (let i = 0; i < data.length; i += C) for (let c = 0; c < C; c++) data[i + c] = data[i + c] * scale[c] + shift[c];
  return img;
}
