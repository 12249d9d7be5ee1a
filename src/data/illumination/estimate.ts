/**
 * Estimating an illumination function as CellProfiler's CorrectIlluminationCalculate does with
 * "Regular" intensities, "All" images of a group (here: a plate) and "Median Filter" smoothing,
 * rescaled ("Rescale: Yes"):
 * 1. the mean image of the plate, per channel;
 * 2. a median filter over a disk of radius `round(filterSize / 2.35)` (CellProfiler converts the
 *    filter size, a full width at half maximum, to a sigma; the automatic size is
 *    `min(30, max(H, W) / 40)`);
 * 3. divided by its robust minimum (the 2nd percentile of its positive values; values below it
 *    are raised to it), so the function is >= 1 and dividing an image by it keeps it in [0, 1].
 * Radii above {@link MEDIAN_DIRECT_RADIUS} are filtered on the mean image shrunk by block means
 * and interpolated back (bilinear): the function is smooth at that scale, and a direct median
 * over a disk of hundreds of pixels would cost minutes per plate.
 */

/** CellProfiler's ROBUST_FACTOR: the robust minimum is this quantile of the positive values. */
export const ROBUST_FACTOR = 0.02;

/** Largest disk radius filtered at full resolution. */
export const MEDIAN_DIRECT_RADIUS = 16;

/** Grey levels of the median filter's sliding histogram (the result is exact to 1/levels of the range). */
const LEVELS = 4096;

/** CellProfiler's automatic smoothing filter size for an image of `height` x `width`. */
export function automaticFilterSize(height: number, width: number): number {
  return Math.min(30, Math.max(height, width) / 40);
}

/** The median filter's disk radius for a filter size (CellProfiler: sigma = size / 2.35, radius = max(1, round(sigma))). */
export function medianRadius(filterSize: number): number {
  return Math.max(1, Math.floor(filterSize / 2.35 + 0.5));
}

/**
 * Median of the pixels within a disk of radius `radius` around each pixel (the disk cut at the
 * image border), on `levels` grey levels spanning the image's range: a sliding histogram along
 * each row (Huang's algorithm), O(radius) per pixel. For an even count the lower median.
 */
export function medianFilterDisk(plane: ArrayLike<number>, height: number, width: number, radius: number, levels = LEVELS): Float32Array {
  const n = height * width;
  let min = Infinity, max = -Infinity;
  for (let p = 0; p < n; p++) {
    if (plane[p] < min) min = plane[p];
    if (plane[p] > max) max = plane[p];
  }
  const out = new Float32Array(n);
  if (!(max > min)) return out.fill(min);
  const step = (max - min) / levels;
  const q = new Int32Array(n);
  for (let p = 0; p < n; p++) q[p] = Math.min(levels - 1, Math.floor((plane[p] - min) / step));
  const half = Array.from({ length: 2 * radius + 1 }, (_, k) => Math.floor(Math.sqrt(radius * radius - (k - radius) ** 2)));
  const hist = new Int32Array(levels);
  for (let y = 0; y < height; y++) {
    hist.fill(0);
    let count = 0;
    const ya = Math.max(0, y - radius), yb = Math.min(height - 1, y + radius);
    for (let yy = ya; yy <= yb; yy++) {
      const w = half[yy - y + radius];
      for (let xx = 0; xx <= Math.min(width - 1, w); xx++) {
        hist[q[yy * width + xx]]++;
        count++;
      }
    }
    // m: the median bin; below: pixels in bins < m.
    let m = 0, below = 0;
    for (let x = 0; ; x++) {
      const target = (count + 1) >> 1;
      while (below + hist[m] < target) below += hist[m++];
      while (m > 0 && below >= target) below -= hist[--m];
      out[y * width + x] = min + (m + 0.5) * step;
      if (x === width - 1) break;
      // Slide right: each row of the disk loses its left pixel and gains one on the right.
      for (let yy = ya; yy <= yb; yy++) {
        const w = half[yy - y + radius];
        const left = x - w, right = x + 1 + w;
        if (left >= 0) {
          const b = q[yy * width + left];
          hist[b]--;
          count--;
          if (b < m) below--;
        }
        if (right < width) {
          const b = q[yy * width + right];
          hist[b]++;
          count++;
          if (b < m) below++;
        }
      }
    }
  }
  return out;
}

/** Block means of `plane` over `k` x `k` blocks (partial blocks at the far edges average what they hold). */
export function shrink(plane: ArrayLike<number>, height: number, width: number, k: number): { data: Float64Array; height: number; width: number } {
  const h = Math.ceil(height / k), w = Math.ceil(width / k);
  const sum = new Float64Array(h * w);
  const cnt = new Float64Array(h * w);
  for (let y = 0; y < height; y++) {
    const r = Math.floor(y / k) * w;
    for (let x = 0; x < width; x++) {
      const j = r + Math.floor(x / k);
      sum[j] += plane[y * width + x];
      cnt[j]++;
    }
  }
  for (let j = 0; j < sum.length; j++) sum[j] /= cnt[j];
  return { data: sum, height: h, width: w };
}

/** Bilinear interpolation of a `k`-times shrunk plane back to `height` x `width` (block centres as samples, edges clamped). */
export function enlarge(small: ArrayLike<number>, h: number, w: number, k: number, height: number, width: number): Float32Array {
  const out = new Float32Array(height * width);
  const coord = (v: number, n: number): [number, number, number] => {
    const f = Math.min(Math.max((v + 0.5) / k - 0.5, 0), n - 1);
    const i = Math.min(Math.floor(f), n - 2 < 0 ? 0 : n - 2);
    return [i, Math.min(i + 1, n - 1), f - i];
  };
  const xs = Array.from({ length: width }, (_, x) => coord(x, w));
  for (let y = 0; y < height; y++) {
    const [y0, y1, ty] = coord(y, h);
    for (let x = 0; x < width; x++) {
      const [x0, x1, tx] = xs[x];
      const a = small[y0 * w + x0], b = small[y0 * w + x1], c = small[y1 * w + x0], d = small[y1 * w + x1];
      out[y * width + x] = (a * (1 - tx) + b * tx) * (1 - ty) + (c * (1 - tx) + d * tx) * ty;
    }
  }
  return out;
}

/**
 * `plane` divided by its robust minimum (the {@link ROBUST_FACTOR} quantile of its positive values),
 * values below it raised to it first: a function >= 1. A plane without positive values gives ones.
 */
export function robustRescale(plane: ArrayLike<number>): Float32Array {
  const pos = Float32Array.from(Array.prototype.filter.call(plane, (v: number) => v > 0) as number[]);
  const out = new Float32Array(plane.length);
  if (pos.length === 0) return out.fill(1);
  pos.sort();
  const rmin = pos[Math.floor(pos.length * ROBUST_FACTOR)];
  for (let p = 0; p < plane.length; p++) out[p] = Math.max(plane[p], rmin) / rmin;
  return out;
}

/** The median-smoothed, rescaled function of a plate's mean image (see the module comment). */
export function illuminationFunction(mean: ArrayLike<number>, height: number, width: number, filterSize: number): Float32Array {
  const r = medianRadius(filterSize);
  if (r <= MEDIAN_DIRECT_RADIUS) return robustRescale(medianFilterDisk(mean, height, width, r));
  const k = Math.ceil(r / MEDIAN_DIRECT_RADIUS);
  const s = shrink(mean, height, width, k);
  const smooth = medianFilterDisk(s.data, s.height, s.width, Math.max(1, Math.round(r / k)));
  return robustRescale(enlarge(smooth, s.height, s.width, k, height, width));
}
