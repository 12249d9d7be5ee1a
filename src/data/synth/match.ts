/**
 * Matching of image-level intensity statistics: lets a treatment change where the signal is
 * (shape, size vs count, spot count vs brightness, texture scale) without changing each channel's
 * mean and standard deviation as the camera records them, so that only a plate's own (technical
 * and biological) shifts move those statistics.
 *
 * The camera records `clamp(gain * p + offset, 0, 1)` of a non-negative optical signal `p` (then
 * adds noise and quantises, see render.ts recordSignal). The moments are matched on that clamped
 * record, so saturation and the dark offset do not give the treatment away.
 */

/** Mean and (population) standard deviation of one channel. */
export interface ChannelMoments {
  mean: number;
  std: number;
}

/** How a channel is recorded: `clamp(gain * p + offset, 0, 1)`. */
export interface ChannelRecording {
  gain: number;
  offset: number;
}

/** Mean and std of the recorded channel `clamp(gain * p + offset, 0, 1)` (float64 accumulation). */
export function recordedMoments(p: ArrayLike<number>, rec: ChannelRecording): ChannelMoments {
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < p.length; i++) {
    const v = Math.min(1, Math.max(0, rec.gain * p[i] + rec.offset));
    s += v;
    s2 += v * v;
  }
  const mean = s / p.length;
  return { mean, std: Math.sqrt(Math.max(0, s2 / p.length - mean * mean)) };
}

/** Sorted values with prefix sums: moments of any clamped affine map in O(log n). */
class SortedValues {
  readonly x: Float64Array;
  private readonly s1: Float64Array;
  private readonly s2: Float64Array;

  constructor(values: Float64Array) {
    this.x = Float64Array.from(values).sort();
    const n = this.x.length;
    this.s1 = new Float64Array(n + 1);
    this.s2 = new Float64Array(n + 1);
    for (let i = 0; i < n; i++) {
      this.s1[i + 1] = this.s1[i] + this.x[i];
      this.s2[i + 1] = this.s2[i] + this.x[i] * this.x[i];
    }
  }

  /** Number of values strictly below `t`. */
  private below(t: number): number {
    let lo = 0;
    let hi = this.x.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.x[mid] < t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Mean and std of clamp(a * x + b, lo, hi), a > 0, and the fraction of values not clamped. */
  moments(a: number, b: number, lo: number, hi: number): ChannelMoments & { free: number } {
    const n = this.x.length;
    const i0 = this.below((lo - b) / a); // values mapped to <= lo
    const i1 = Math.max(i0, this.below((hi - b) / a)); // values from i1 on mapped to >= hi
    const m = i1 - i0;
    const s1 = this.s1[i1] - this.s1[i0];
    const s2 = this.s2[i1] - this.s2[i0];
    const sum = i0 * lo + (n - i1) * hi + a * s1 + b * m;
    const sum2 = i0 * lo * lo + (n - i1) * hi * hi + a * a * s2 + 2 * a * b * s1 + b * b * m;
    const mean = sum / n;
    return { mean, std: Math.sqrt(Math.max(0, sum2 / n - mean * mean)), free: m / n };
  }
}

/**
 * The monotone map `p -> max(a * p + b, offset)` of the record (before the top clamp) that gives
 * the recorded channel `clamp(max(a * p + b, offset), 0, 1)` the target mean and std; returns
 * [a, b]. For a fixed slope the mean rises with `b`, piecewise linearly (safeguarded Newton inside
 * a bisection bracket); at a matched mean a steeper slope is a mean-preserving spread, so the std
 * rises with `a` (Illinois false position on log a, inside a bracket).
 */
function solveClampedAffine(v: SortedValues, target: ChannelMoments, lo: number, hi: number): [number, number] {
  const x = v.x;
  const n = x.length;
  const xmin = x[0];
  const xmax = x[n - 1];
  const spread = xmax - xmin;
  if (!(spread > 0)) return [1, target.mean - xmin]; // a flat plane can only be shifted
  const xmean = v.moments(1, 0, xmin - 1, xmax + 1).mean;
  const tol = 1e-13;
  const bFor = (a: number): number => {
    // Mean of clamp(a x + b) runs from lo (b = lo - a xmax) to hi (b = hi - a xmin).
    let bl = lo - a * xmax;
    let bh = hi - a * xmin;
    let b = Math.min(bh, Math.max(bl, target.mean - a * xmean));
    for (let it = 0; it < 100 && bh - bl > tol * (1 + Math.abs(b)); it++) {
      const m = v.moments(a, b, lo, hi);
      const f = m.mean - target.mean;
      if (Math.abs(f) < tol) break;
      if (f < 0) bl = b;
      else bh = b;
      const next = m.free > 0 ? b - f / m.free : NaN; // d mean / d b = unclamped fraction
      b = next > bl && next < bh ? next : (bl + bh) / 2;
    }
    return b;
  };
  const g = (la: number) => v.moments(Math.exp(la), bFor(Math.exp(la)), lo, hi).std - target.std;
  let la = Math.log(1e-6 / spread);
  let ha = Math.log(1e6 / spread);
  let gl = g(la);
  let gh = g(ha);
  if (gl >= 0) ha = la; // target std at or below the flattest map: take it
  else if (gh <= 0) la = ha; // above the steepest (two-level) map: take that
  let side = 0;
  for (let it = 0; it < 200 && ha - la > 1e-12; it++) {
    const c = (la * gh - ha * gl) / (gh - gl);
    const gc = g(c);
    if (Math.abs(gc) < tol) {
      la = ha = c;
      break;
    }
    if (gc < 0) {
      la = c;
      gl = gc;
      if (side === -1) gh /= 2; // Illinois: halve the stale end so the bracket shrinks on both sides
      side = -1;
    } else {
      ha = c;
      gh = gc;
      if (side === 1) gl /= 2;
      side = 1;
    }
  }
  const a = Math.exp((la + ha) / 2);
  return [a, bFor(a)];
}

/**
 * Maps each non-negative signal plane in place so that its record gets the target mean and std,
 * moved `strength` (0..1) of the way from its own (log scale). The map is monotone and keeps the
 * signal non-negative: `p -> max(a' * p + b', 0)`. A record whose variation is too high gets a
 * uniform background and a lower contrast; one whose variation is too low a higher contrast and
 * loses its dimmest signal to the dark level. Targets outside the recordable range (mean at 0 or
 * 1, std above the two-level maximum) are approached as closely as the clamp allows.
 */
export function matchRecordedMoments(planes: Float64Array[], target: ChannelMoments[], rec: ChannelRecording[], strength: number): void {
  planes.forEach((p, c) => {
    const { gain, offset } = rec[c];
    const own = recordedMoments(p, { gain, offset });
    const t = target[c];
    const lo = Math.min(Math.max(offset, 0), 1);
    const mix = (o: number, tv: number) => (o > 0 && tv > 0 ? o * Math.pow(tv / o, strength) : o + strength * (tv - o));
    const want = { mean: mix(own.mean, t.mean), std: mix(own.std, t.std) };
    if (!(want.mean > lo && want.mean < 1)) return;
    const [a, b] = solveClampedAffine(new SortedValues(p), want, lo, 1);
    // Back to signal units: gain * p' + offset = max(a p + b, offset).
    for (let i = 0; i < p.length; i++) p[i] = Math.max(0, (a * p[i] + b - offset) / gain);
  });
}
