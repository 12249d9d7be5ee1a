/**
 * The image store of a corrected data set: each image divided, channel by channel, by its
 * illumination function (CellProfiler's CorrectIlluminationApply, "Divide"), before intensity
 * scaling, cropping and nuclei detection. Samples become float32 in CellProfiler's units: the
 * stored value over the dtype's full scale (1 for float images), divided by the function.
 */
import { DataError } from '../../util/errors.ts';
import type { ImageStore } from '../image-store.ts';
import { maxSampleValue } from '../preprocess.ts';
import type { Pixels, SiteRecord } from '../types.ts';
import { FunctionCache, type IlluminationFunction } from './functions.ts';

/** An image store handing out `inner`'s images divided by the functions each row names (`row.illumination`). */
export class IlluminationImageStore implements ImageStore {
  readonly inMemory = false;
  readonly dtype = 'float32' as const;
  readonly height: number;
  readonly width: number;
  readonly channels: number;

  constructor(
    private readonly inner: ImageStore,
    private readonly rows: readonly SiteRecord[],
    private readonly cache = new FunctionCache(),
  ) {
    this.height = inner.height;
    this.width = inner.width;
    this.channels = inner.channels;
  }

  get size(): number {
    return this.inner.size;
  }

  async get(i: number): Promise<Pixels> {
    const row = this.rows[i];
    const files = row.illumination ?? [];
    const [px, fns] = await Promise.all([this.inner.get(i), Promise.all(files.map((f) => this.cache.get(f)))]);
    return divideByFunctions(px, fns, this.inner, row, files);
  }

  getSync(): Pixels {
    throw new Error('IlluminationImageStore has no synchronous access; call Dataset.load() to hold the corrected images in memory.');
  }

  subset(indices: ArrayLike<number>): IlluminationImageStore {
    return new IlluminationImageStore(this.inner.subset(indices), Array.from(indices, (i) => this.rows[i]), this.cache);
  }
}

/**
 * HWC `px` (of `shape`, its stored dtype) as float32 over its full scale, channel c divided by `fns[c]`. A function
 * of another shape than the image is an error naming both files.
 */
export function divideByFunctions(px: Pixels, fns: readonly IlluminationFunction[], shape: { height: number; width: number; channels: number; dtype: ImageStore['dtype'] }, row: SiteRecord, files: readonly string[]): Float32Array {
  const C = shape.channels;
  const n = shape.height * shape.width;
  if (fns.length !== C) throw new DataError(`${row.source}: site ${row.siteId} names ${fns.length} illumination function(s) for ${C} channels.`);
  const out = new Float32Array(n * C);
  const s = 1 / maxSampleValue(shape.dtype);
  for (let c = 0; c < C; c++) {
    const f = fns[c];
    if (f.height !== shape.height || f.width !== shape.width) {
      const image = row.paths[row.paths.length === C ? c : 0];
      throw new DataError(
        `Illumination function ${files[c]} is ${f.height}x${f.width} but image ${image} (site ${row.siteId}, ${row.source}) is ${shape.height}x${shape.width}; ` +
          'a function must have its images\' shape. Point the row at the function computed for these images, or recompute it.',
      );
    }
    const d = f.data;
    for (let p = 0, q = c; p < n; p++, q += C) out[q] = (px[q] * s) / d[p];
  }
  return out;
}
