/**
 * The one home of intensity handling and of the deterministic model input. Intensity scaling
 * (`raw` | per-image percentiles | per-plate percentiles of control wells, {@link fitIntensity})
 * comes first, as the data set's image store hands out pixels. Then the model input shared by
 * training and inference: stored samples -> float [0, 1]
 * (`toFloat`) -> the whole image resized to the model's input size (bilinear, the convention of
 * `random-resized-crop` with the full box) -> per-image per-channel standardisation
 * (`standardize`, as in WILDS RxRx1 and the BEN paper). It runs the same kernels, in the same
 * order, as the training augmentation chain (crop/resize -> ... -> standardize) with its random
 * parts switched off, so an embedding sees exactly the input distribution the model was trained on.
 */
import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../util/errors.ts';
import { Dataset } from './image-dataset.ts';
import type { ImageShape, ImageStore } from './image-store.ts';
import { newPixels, plateKey, type Pixels } from './types.ts';
import { cropResize, standardize, toFloat } from './augment/ops.ts';

/**
 * Largest sample value of a dtype (the `toFloat` scale of the training pipeline). Float images
 * are taken on CellProfiler's scale, 0..1, as they are (never clipped).
 */
export function maxSampleValue(dtype: ImageShape['dtype']): number {
  return dtype === 'float32' ? 1 : dtype === 'uint16' ? 65535 : 255;
}

/**
 * Writes image `px` (HWC samples of `shape`) into `out` at `offset` as model input: scaled to
 * [0, 1], resized to `size` x `size` when `size` differs from the image (default: no resize), then
 * standardised per channel. Writes `size * size * channels` floats.
 */
export function standardizeInto(px: Pixels, shape: ImageShape, out: Float32Array, offset: number, size?: number): void {
  modelInputInto(px, shape, out, offset, { size });
}

/** Options of {@link modelInputInto}. */
export interface ModelInputOptions {
  /** Square input size of the model (default: the image size, no resize). */
  size?: number;
  /** Standardise per image and channel (default true; false leaves the [0, 1] scale). */
  standardize?: boolean;
}

/** {@link standardizeInto} with the standardisation optional (a recipe with `augment.standardize: false`). */
export function modelInputInto(px: Pixels, shape: ImageShape, out: Float32Array, offset: number, o: ModelInputOptions = {}): void {
  let img = toFloat(px, shape.height, shape.width, shape.channels, maxSampleValue(shape.dtype));
  if (o.size !== undefined && (o.size !== shape.height || o.size !== shape.width)) img = cropResize(img, [0, 0, 1, 1], o.size, o.size);
  if (o.standardize ?? true) img = standardize(img);
  out.set(img.data, offset);
}

/**
 * A batch of images as model input [B, S, S, C] float32 (S = `size`, default the image size), see
 * {@link standardizeInto}. The caller disposes the tensor.
 */
export function standardizeBatch(images: readonly Pixels[], shape: ImageShape, size?: number): tf.Tensor4D {
  return modelInputBatch(images, shape, { size });
}

/** A batch of model input [B, S, S, C] float32, see {@link modelInputInto}. The caller disposes it. */
export function modelInputBatch(images: readonly Pixels[], shape: ImageShape, o: ModelInputOptions = {}): tf.Tensor4D {
  const h = o.size ?? shape.height;
  const w = o.size ?? shape.width;
  const per = h * w * shape.channels;
  const out = new Float32Array(images.length * per);
  images.forEach((img, b) => modelInputInto(img, shape, out, b * per, o));
  return tf.tensor4d(out, [images.length, h, w, shape.channels]);
}

// ---------------------------------------------------------------------------------------------
// Intensity scaling: the step between decoding and the model input. Instruments and labs differ
// by large factors in raw intensity (the two JUMP sources of jump-rab30 by ~10x), so what the
// pixels are divided by is a choice the user makes and every output records.

/**
 * How stored samples are scaled before the model input (recipe `data.intensity`, `ben embed
 * --intensity`):
 * - `raw`: as stored (the model input divides by the dtype's maximum, {@link maxSampleValue});
 * - `image`: each image and channel maps its own `low`..`high` percentiles to 0..max;
 * - `plate`: each plate and channel maps the `low`..`high` percentiles of its control images
 *   (`from: controls`, the negative-control wells; `all`: every image of the plate) to 0..max.
 * Values outside the range are clipped. The scaled samples keep the stored dtype (float samples
 * map to [0, 1]).
 */
export type IntensityOptions =
  | { mode: 'raw' }
  | { mode: 'image'; low?: number; high?: number }
  | { mode: 'plate'; low?: number; high?: number; from?: 'controls' | 'all'; maxImages?: number };

/** The intensity modes, for CLI choices and the recipe schema. */
export const INTENSITY_MODES = ['raw', 'image', 'plate'] as const;

/** Default percentiles of `image` and `plate` scaling. */
export const DEFAULT_PERCENTILES: readonly [number, number] = [0.1, 99.9];

/**
 * Per-channel `low` and `high` percentiles (0-100) of HWC images, pooled over `images`: the
 * smallest sample value whose cumulative count reaches `p%` of the samples. Integer images: a
 * histogram over the dtype's values. Float images: the same order statistic, exact, found by a
 * histogram over the channel's range and a sort of the one bin that holds it (non-finite samples
 * are left out).
 */
export function channelPercentiles(images: readonly Pixels[], channels: number, dtype: ImageShape['dtype'], low: number, high: number): { lo: number[]; hi: number[] } {
  if (dtype === 'float32') return floatPercentiles(images, channels, low, high);
  const bins = maxSampleValue(dtype) + 1;
  const hist = Array.from({ length: channels }, () => new Uint32Array(bins));
  let total = 0;
  for (const img of images) {
    const n = img.length / channels;
    total += n;
    for (let p = 0, q = 0; p < n; p++) for (let c = 0; c < channels; c++) hist[c][img[q++]]++;
  }
  const at = (h: Uint32Array, pct: number) => {
    const want = Math.max(1, Math.ceil((pct / 100) * total));
    let cum = 0;
    for (let v = 0; v < bins; v++) if ((cum += h[v]) >= want) return v;
    return bins - 1;
  };
  return { lo: hist.map((h) => at(h, low)), hi: hist.map((h) => at(h, high)) };
}

/** Histogram bins of the float order statistic's first pass. */
const FLOAT_BINS = 65536;

function floatPercentiles(images: readonly Pixels[], channels: number, low: number, high: number): { lo: number[]; hi: number[] } {
  const lo: number[] = [];
  const hi: number[] = [];
  for (let c = 0; c < channels; c++) {
    let min = Infinity, max = -Infinity, total = 0;
    for (const img of images) {
      for (let q = c; q < img.length; q += channels) {
        const v = img[q];
        if (!Number.isFinite(v)) continue;
        total++;
        if (v < min) min = v;
        if (v > max) max = v;
      }
    }
    if (total === 0) {
      lo.push(0);
      hi.push(0);
      continue;
    }
    if (min === max) {
      lo.push(min);
      hi.push(max);
      continue;
    }
    const scale = FLOAT_BINS / (max - min);
    const binOf = (v: number) => Math.min(FLOAT_BINS - 1, Math.floor((v - min) * scale));
    const hist = new Uint32Array(FLOAT_BINS);
    for (const img of images) for (let q = c; q < img.length; q += channels) if (Number.isFinite(img[q])) hist[binOf(img[q])]++;
    const kth = (pct: number) => {
      const want = Math.max(1, Math.ceil((pct / 100) * total));
      let cum = 0, b = 0;
      while (cum + hist[b] < want) cum += hist[b++];
      const inBin: number[] = [];
      for (const img of images) for (let q = c; q < img.length; q += channels) if (Number.isFinite(img[q]) && binOf(img[q]) === b) inBin.push(img[q]);
      inBin.sort((x, y) => x - y);
      return inBin[want - cum - 1];
    };
    lo.push(kth(low));
    hi.push(kth(high));
  }
  return { lo, hi };
}

/**
 * `img` with channel c mapped from [lo[c], hi[c]] to [0, max] and clipped, same dtype: integer
 * samples rounded, float samples mapped to [0, 1] as they are.
 */
export function scaleIntensity(img: Pixels, channels: number, dtype: ImageShape['dtype'], lo: readonly number[], hi: readonly number[]): Pixels {
  const max = maxSampleValue(dtype);
  const out = newPixels(dtype, img.length);
  const float = dtype === 'float32';
  const a = lo.map((l, c) => max / Math.max(hi[c] - l, float ? Number.MIN_VALUE : 1));
  for (let c = 0; c < channels; c++) {
    const l = lo[c], s = a[c];
    for (let q = c; q < img.length; q += channels) {
      const v = (img[q] - l) * s;
      out[q] = v <= 0 ? 0 : v >= max ? max : float ? v : Math.round(v);
    }
  }
  return out;
}

/** An image store that scales the intensities of another as it hands images out. */
export class ScaledImageStore implements ImageStore {
  readonly inMemory = false;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly dtype: ImageShape['dtype'];

  /**
   * @param inner  the stored images
   * @param ranges per image: its [lo, hi] per channel, or `undefined` for its own percentiles
   * @param pct    the percentiles of per-image scaling
   */
  constructor(
    private readonly inner: ImageStore,
    private readonly ranges: readonly ({ lo: number[]; hi: number[] } | undefined)[],
    private readonly pct: readonly [number, number],
  ) {
    this.height = inner.height;
    this.width = inner.width;
    this.channels = inner.channels;
    this.dtype = inner.dtype;
  }

  get size(): number {
    return this.inner.size;
  }

  async get(i: number): Promise<Pixels> {
    const px = await this.inner.get(i);
    const r = this.ranges[i] ?? channelPercentiles([px], this.channels, this.dtype, this.pct[0], this.pct[1]);
    return scaleIntensity(px, this.channels, this.dtype, r.lo, r.hi);
  }

  getSync(): Pixels {
    throw new Error('ScaledImageStore has no synchronous access; call Dataset.load() to hold the scaled images in memory.');
  }

  subset(indices: ArrayLike<number>): ScaledImageStore {
    return new ScaledImageStore(this.inner.subset(indices), Array.from(indices, (i) => this.ranges[i]), this.pct);
  }
}

/**
 * `ds` with its intensities scaled as `o` says (see {@link IntensityOptions}); the returned data
 * set decodes lazily (call `load()`) and records the scaling, with each plate's fitted ranges, in
 * `ds.intensity` (summaries, Parquet key-value metadata). `plate` scaling reads up to
 * `maxImages` (default 64, evenly spaced) control images per plate to fit the percentiles.
 */
export async function fitIntensity(ds: Dataset, o: IntensityOptions): Promise<Dataset> {
  if (o.mode === 'raw') return ds;
  const [low, high] = [o.low ?? DEFAULT_PERCENTILES[0], o.high ?? DEFAULT_PERCENTILES[1]];
  if (!(low >= 0 && high <= 100 && low < high)) throw new UserError(`data.intensity: percentiles low ${low} and high ${high} must satisfy 0 <= low < high <= 100.`);
  if (o.mode === 'image') {
    return new Dataset({ ...ds, images: new ScaledImageStore(ds.images, ds.rows.map(() => undefined), [low, high]), intensity: { mode: 'image', low, high } });
  }
  const from = o.from ?? 'controls';
  const maxImages = o.maxImages ?? 64;
  const ranges: { lo: number[]; hi: number[] }[] = new Array(ds.size);
  const plates: Record<string, { lo: number[]; hi: number[]; images: number }> = {};
  for (const rows of ds.groups(['experiment', 'plate']).values()) {
    const key = plateKey(ds.rows[rows[0]]);
    const pool = from === 'controls' ? rows.filter((i) => ds.rows[i].wellType === 'negative_control') : rows;
    if (pool.length === 0) {
      throw new UserError(
        `Plate ${key} (${ds.rows[rows[0]].source}) has no negative-control wells, so data.intensity.from: controls cannot scale it. ` +
          'Name the controls (data.negativeControls, --negative-control COLUMN=VALUE) or use data.intensity.from: all (--intensity-from all).',
      );
    }
    const step = Math.max(1, pool.length / maxImages);
    const pick: number[] = [];
    for (let k = 0; k < pool.length && pick.length < maxImages; k += step) pick.push(pool[Math.floor(k)]);
    const r = channelPercentiles(await Promise.all(pick.map((i) => ds.images.get(i))), ds.images.channels, ds.dtype, low, high);
    plates[key] = { ...r, images: pick.length };
    for (const i of rows) ranges[i] = r;
  }
  return new Dataset({ ...ds, images: new ScaledImageStore(ds.images, ranges, [low, high]), intensity: { mode: 'plate', low, high, from, plates } });
}

/** Named model-input preprocessings (recorded in a saved model and in the output's key-value metadata). */
export type PreprocessName = 'standardize' | 'scale';

/** The ways to fit an image of another size to a model's input (embedding/input.ts does the fitting). */
export const RESIZE_MODES = ['resize', 'center-crop', 'tiles'] as const;

/** One of {@link RESIZE_MODES}. */
export type ResizeMode = (typeof RESIZE_MODES)[number];

/** Whether `v` names a {@link ResizeMode}. */
export function isResizeMode(v: unknown): v is ResizeMode {
  return typeof v === 'string' && (RESIZE_MODES as readonly string[]).includes(v);
}
