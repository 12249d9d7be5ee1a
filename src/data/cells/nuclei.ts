/**
 * Nuclei on a DNA-stain image, the classic first step of a CellProfiler pipeline
 * (IdentifyPrimaryObjects with a global Otsu threshold): Gaussian smoothing, Otsu's threshold
 * (Otsu, IEEE SMC 1979) on the smoothed intensities, 8-connected components of the foreground,
 * touching nuclei split by intensity (CellProfiler's "declump by intensity": seeds are the local
 * maxima of a more smoothed image at least `minDistance` apart, and a seeded watershed floods the
 * foreground from them in order of decreasing intensity), an area filter, and each object's
 * centroid.
 */
import { gaussianBlur } from '../augment/ops.ts';
import type { ImageShape } from '../image-store.ts';
import { maxSampleValue } from '../preprocess.ts';
import type { Pixels } from '../types.ts';

/** One detected nucleus. */
export interface Nucleus {
  /** Centroid (pixel coordinates: x = column, y = row; the centre of pixel (0, 0) is (0, 0)). */
  x: number;
  y: number;
  /** Pixels in the object. */
  area: number;
  /** Bounding box, inclusive: rows y0..y1, columns x0..x1. */
  box: { y0: number; x0: number; y1: number; x1: number };
}

/** Options of {@link detectNuclei}. */
export interface NucleiOptions {
  /** Gaussian smoothing sigma in pixels before thresholding (default 2; 0 = none). */
  sigma?: number;
  /** Smallest object kept, in pixels (default 30): debris and noise specks are smaller. */
  minArea?: number;
  /** Largest object kept, in pixels (default unlimited): clumps of touching nuclei are larger. */
  maxArea?: number;
  /** Threshold on the smoothed [0, 1] intensities (default: Otsu's). */
  threshold?: number;
  /**
   * Otsu's threshold on log intensities (default true), as CellProfiler's "log transform before
   * thresholding": a field of bright and dim nuclei is bimodal in log space, so dim nuclei are not
   * lost to a threshold set between the bright nuclei and everything else.
   */
  logThreshold?: boolean;
  /** Drop objects touching the image border (default false). */
  excludeBorder?: boolean;
  /**
   * Split touching nuclei (default true): sigma of the smoothing that finds one intensity peak per
   * nucleus (default 3) and the least distance between two nuclei's peaks (default 6 px).
   */
  declump?: boolean | { sigma?: number; minDistance?: number };
}

/** What {@link detectNuclei} found. */
export interface NucleiResult {
  /** Kept nuclei, in raster order of their first pixel. */
  nuclei: Nucleus[];
  /** The threshold used (smoothed [0, 1] intensity). */
  threshold: number;
  /** Components before the area and border filters. */
  components: number;
  /**
   * The kept nuclei as a label image [H * W]: pixel p belongs to `nuclei[labels[p] - 1]`, 0 is
   * background or a dropped object (the mask that per-object measurements read).
   */
  labels: Int32Array;
}

/** Channel `c` of HWC samples as a float plane [H * W] scaled to [0, 1] by the dtype's maximum. */
export function channelPlane(px: Pixels, shape: ImageShape, c: number): Float32Array {
  const n = shape.height * shape.width;
  const C = shape.channels;
  if (!(c >= 0 && c < C)) throw new RangeError(`channel ${c} out of range [0, ${C})`);
  const inv = 1 / maxSampleValue(shape.dtype);
  const out = new Float32Array(n);
  for (let p = 0; p < n; p++) out[p] = px[p * C + c] * inv;
  return out;
}

/**
 * Otsu's threshold of `values`: the cut of a `bins`-bin histogram over [min, max] that maximises
 * the between-class variance w0 w1 (m0 - m1)^2. Returns the upper edge of the last background bin
 * (foreground is `v > threshold`); a constant input returns its value.
 */
export function otsuThreshold(values: ArrayLike<number>, bins = 256): number {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!(hi > lo)) return lo;
  const hist = new Float64Array(bins);
  const scale = bins / (hi - lo);
  for (let i = 0; i < values.length; i++) hist[Math.min(bins - 1, Math.floor((values[i] - lo) * scale))]++;
  const n = values.length;
  let total = 0;
  for (let b = 0; b < bins; b++) total += b * hist[b];
  let w0 = 0, sum0 = 0, best = -1, cut = 0;
  for (let b = 0; b < bins - 1; b++) {
    w0 += hist[b];
    sum0 += b * hist[b];
    const w1 = n - w0;
    if (w0 === 0 || w1 === 0) continue;
    const m0 = sum0 / w0;
    const m1 = (total - sum0) / w1;
    const between = w0 * w1 * (m0 - m1) ** 2;
    if (between > best) {
      best = between;
      cut = b;
    }
  }
  return lo + (cut + 1) / scale;
}

/** Otsu's threshold of log(v + 1/512), mapped back to intensity. */
function logOtsu(values: Float32Array): number {
  const eps = 1 / 512;
  const logs = Float32Array.from(values, (v) => Math.log(Math.max(v, 0) + eps));
  return Math.exp(otsuThreshold(logs)) - eps;
}

/**
 * Marks every 8-neighbour q of pixel `p` (inside the field) that is in `mask` and not yet marked
 * with `value`, and hands it to `visit`: the step both the component labelling and the seeded
 * flooding repeat.
 */
export function spreadTo8(p: number, height: number, width: number, mask: ArrayLike<number>, mark: Int32Array, value: number, visit: (q: number) => void): void {
  const y = (p / width) | 0;
  const x = p - y * width;
  for (let dy = -1; dy <= 1; dy++) {
    const yy = y + dy;
    if (yy < 0 || yy >= height) continue;
    for (let dx = -1; dx <= 1; dx++) {
      const xx = x + dx;
      if (xx < 0 || xx >= width) continue;
      const q = yy * width + xx;
      if (mask[q] && !mark[q]) {
        mark[q] = value;
        visit(q);
      }
    }
  }
}

/**
 * 8-connected components of a binary mask [H * W] (non-zero = foreground): labels 1..count in
 * raster order of each component's first pixel, 0 for background.
 */
export function labelComponents(mask: ArrayLike<number>, height: number, width: number): { labels: Int32Array; count: number } {
  const labels = new Int32Array(height * width);
  const stack = new Int32Array(height * width);
  let count = 0;
  for (let start = 0; start < labels.length; start++) {
    if (!mask[start] || labels[start]) continue;
    const id = ++count;
    labels[start] = id;
    let top = 0;
    stack[top++] = start;
    while (top > 0) spreadTo8(stack[--top], height, width, mask, labels, id, (q) => (stack[top++] = q));
  }
  return { labels, count };
}

/**
 * Nuclei of a DNA plane [H * W] (float, any scale; see {@link channelPlane}): smoothing, Otsu
 * threshold, 8-connected components, area (and border) filter, centroids. See the module comment.
 */
export function detectNuclei(plane: Float32Array, height: number, width: number, opts: NucleiOptions = {}): NucleiResult {
  const sigma = opts.sigma ?? 2;
  const smooth = sigma > 0 ? gaussianBlur({ data: plane, height, width, channels: 1 }, sigma).data : plane;
  const threshold = opts.threshold ?? (opts.logThreshold ?? true ? logOtsu(smooth) : otsuThreshold(smooth));
  const mask = new Uint8Array(smooth.length);
  for (let p = 0; p < smooth.length; p++) mask[p] = smooth[p] > threshold ? 1 : 0;
  const { labels, count } =
    opts.declump === false
      ? labelComponents(mask, height, width)
      : declumpByIntensity(plane, mask, height, width, opts.declump === true || opts.declump === undefined ? {} : opts.declump);
  const area = new Float64Array(count + 1);
  const sx = new Float64Array(count + 1);
  const sy = new Float64Array(count + 1);
  const box = Array.from({ length: count + 1 }, () => ({ y0: Infinity, x0: Infinity, y1: -1, x1: -1 }));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const l = labels[y * width + x];
      if (!l) continue;
      area[l]++;
      sx[l] += x;
      sy[l] += y;
      const b = box[l];
      if (y < b.y0) b.y0 = y;
      if (y > b.y1) b.y1 = y;
      if (x < b.x0) b.x0 = x;
      if (x > b.x1) b.x1 = x;
    }
  }
  const minArea = opts.minArea ?? 30;
  const maxArea = opts.maxArea ?? Infinity;
  const nuclei: Nucleus[] = [];
  const keptAs = new Int32Array(count + 1);
  for (let l = 1; l <= count; l++) {
    const b = box[l];
    if (area[l] < minArea || area[l] > maxArea) continue;
    if (opts.excludeBorder && (b.y0 === 0 || b.x0 === 0 || b.y1 === height - 1 || b.x1 === width - 1)) continue;
    nuclei.push({ x: sx[l] / area[l], y: sy[l] / area[l], area: area[l], box: b });
    keptAs[l] = nuclei.length;
  }
  const kept = new Int32Array(labels.length);
  for (let p = 0; p < labels.length; p++) kept[p] = keptAs[labels[p]];
  return { nuclei, threshold, components: count, labels: kept };
}

/**
 * Local maxima of `v` inside `mask` that are the largest value within `r` pixels (Chebyshev);
 * on a plateau the first pixel in raster order wins. Returns pixel indices in raster order.
 */
export function localMaxima(v: Float32Array, mask: ArrayLike<number>, height: number, width: number, r: number): number[] {
  const out: number[] = [];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      if (!mask[p]) continue;
      const c = v[p];
      let peak = true;
      for (let dy = -r; dy <= r && peak; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= height) continue;
        for (let dx = -r; dx <= r; dx++) {
          const xx = x + dx;
          if (xx < 0 || xx >= width) continue;
          const q = yy * width + xx;
          if (v[q] > c || (v[q] === c && q < p)) {
            peak = false;
            break;
          }
        }
      }
      if (peak) out.push(p);
    }
  }
  return out;
}

/** A binary max-heap of pixel indices keyed by a value. */
class MaxHeap {
  private idx: Int32Array;
  private key: Float32Array;
  size = 0;
  constructor(cap: number) {
    this.idx = new Int32Array(cap);
    this.key = new Float32Array(cap);
  }
  push(i: number, k: number): void {
    let n = this.size++;
    while (n > 0) {
      const parent = (n - 1) >> 1;
      if (this.key[parent] >= k) break;
      this.idx[n] = this.idx[parent];
      this.key[n] = this.key[parent];
      n = parent;
    }
    this.idx[n] = i;
    this.key[n] = k;
  }
  pop(): number {
    const top = this.idx[0];
    const li = this.idx[--this.size];
    const lk = this.key[this.size];
    let n = 0;
    for (;;) {
      let c = 2 * n + 1;
      if (c >= this.size) break;
      if (c + 1 < this.size && this.key[c + 1] > this.key[c]) c++;
      if (this.key[c] <= lk) break;
      this.idx[n] = this.idx[c];
      this.key[n] = this.key[c];
      n = c;
    }
    this.idx[n] = li;
    this.key[n] = lk;
    return top;
  }
}

/**
 * Labels of the foreground `mask` split at intensity valleys: seeds at the local maxima of
 * `plane` smoothed with `sigma` (at least `minDistance` apart), flooded over the mask in order of
 * decreasing smoothed intensity (8-connected seeded watershed). A component without a seed keeps
 * one label. Labels 1..count in raster order of each object's first pixel.
 */
export function declumpByIntensity(plane: Float32Array, mask: Uint8Array, height: number, width: number, o: { sigma?: number; minDistance?: number }): { labels: Int32Array; count: number } {
  const v = gaussianBlur({ data: plane, height, width, channels: 1 }, o.sigma ?? 3).data;
  const n = height * width;
  const flood = new Int32Array(n);
  const heap = new MaxHeap(n);
  let seeds = 0;
  for (const p of localMaxima(v, mask, height, width, o.minDistance ?? 6)) {
    flood[p] = ++seeds;
    heap.push(p, v[p]);
  }
  // Seedless components (their peak suppressed by a brighter neighbour across background).
  const comp = labelComponents(mask, height, width);
  const seeded = new Uint8Array(comp.count + 1);
  for (let p = 0; p < n; p++) if (flood[p]) seeded[comp.labels[p]] = 1;
  for (let p = 0; p < n; p++) {
    const c = comp.labels[p];
    if (c && !seeded[c]) {
      seeded[c] = 1;
      flood[p] = ++seeds;
      heap.push(p, v[p]);
    }
  }
  while (heap.size > 0) {
    const p = heap.pop();
    spreadTo8(p, height, width, mask, flood, flood[p], (q) => heap.push(q, v[q]));
  }
  // Renumber in raster order of first pixel.
  const map = new Int32Array(seeds + 1);
  let count = 0;
  const labels = new Int32Array(n);
  for (let p = 0; p < n; p++) {
    const l = flood[p];
    if (!l) continue;
    if (!map[l]) map[l] = ++count;
    labels[p] = map[l];
  }
  return { labels, count };
}
