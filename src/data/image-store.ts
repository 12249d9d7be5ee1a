import { UserError } from '../util/errors.ts';
import { decodeImageBytes, readImageFile } from './decode.ts';
import { newPixels, type Pixels, type PixelDType, type SiteRecord } from './types.ts';

/** Shape and sample type every image of a data set shares. */
export interface ImageShape {
  height: number;
  width: number;
  channels: number;
  dtype: PixelDType;
}

/**
 * Access to the decoded images of a data set, by row index (the same index as `Dataset.rows`).
 * `get(i)` returns HWC samples [height * width * channels] as uint8, uint16 or float32; an in-memory store
 * returns a view without copying (do not write to it).
 */
export interface ImageStore extends ImageShape {
  /** Number of images. */
  readonly size: number;
  /** True when all pixels are held in memory (then {@link getSync} is available). */
  readonly inMemory: boolean;
  /** The HWC pixels of image `i`. */
  get(i: number): Promise<Pixels>;
  /** Synchronous access, for in-memory stores only (throws otherwise). */
  getSync(i: number): Pixels;
  /** A store over the images `indices` (new index j -> old index indices[j]). */
  subset(indices: ArrayLike<number>): ImageStore;
}

/** Whether a decoding note was shown (a rounding note is worth saying once per run, not per site). */
let noteShown = false;

/**
 * Decodes one site's files into one HWC buffer and checks it against `shape` when given. Each
 * file is read once, however many of the site's channels are planes of it (`row.planes`).
 */
export async function decodeSite(row: SiteRecord, shape?: Partial<ImageShape>): Promise<{ data: Pixels; shape: ImageShape }> {
  const ctx = `site ${row.siteId}, ${row.source}`;
  const files = new Map<string, Promise<Buffer>>();
  const bytesOf = (p: string) => {
    let b = files.get(p);
    if (!b) files.set(p, (b = readImageFile(p, ctx)));
    return b;
  };
  const decode = async (c: number) => decodeImageBytes(await bytesOf(row.paths[c]), row.paths[c], ctx, row.planes ? { plane: row.planes[c] } : {});
  const imgs = await Promise.all(row.paths.map((_, c) => decode(c)));
  const note = imgs.find((im) => im.note)?.note;
  if (note && !noteShown) {
    noteShown = true;
    process.emitWarning(note, { code: 'BEN_PIXEL_ROUNDING' });
  }
  if (row.paths.length === 1) {
    const img = imgs[0];
    const s: ImageShape = { height: img.height, width: img.width, channels: img.channels, dtype: img.dtype };
    checkShape(s, shape, row.paths[0], ctx);
    return { data: img.data, shape: s };
  }
  // One single-channel file (or plane) per channel: stack them into HWC.
  const first = imgs[0];
  for (let c = 0; c < imgs.length; c++) {
    const im = imgs[c];
    if (im.channels !== 1) {
      throw new UserError(
        `Image ${row.paths[c]} (${ctx}) has ${im.channels} channels${row.planes ? '' : ' (or pages)'}; this layout expects one grey image per channel. ` +
          `Re-save it as single-channel, name its page with a LoadData Frame_<Channel> column, or pass --skip-bad.`,
      );
    }
    if (im.width !== first.width || im.height !== first.height || im.dtype !== first.dtype) {
      throw new UserError(
        `Image ${row.paths[c]} (${ctx}) is ${im.width}x${im.height} ${im.dtype} but ${row.paths[0]} is ${first.width}x${first.height} ${first.dtype}; all channels of a site must match. Fix the file or pass --skip-bad.`,
      );
    }
  }
  const s: ImageShape = { height: first.height, width: first.width, channels: imgs.length, dtype: first.dtype };
  checkShape(s, shape, row.paths[0], ctx);
  const n = s.height * s.width;
  const C = imgs.length;
  const out = newPixels(s.dtype, n * C);
  for (let c = 0; c < C; c++) {
    const src = imgs[c].data;
    for (let p = 0; p < n; p++) out[p * C + c] = src[p];
  }
  return { data: out, shape: s };
}

function checkShape(s: ImageShape, want: Partial<ImageShape> | undefined, file: string, ctx: string): void {
  if (!want) return;
  const bad =
    (want.height !== undefined && want.height !== s.height) ||
    (want.width !== undefined && want.width !== s.width) ||
    (want.channels !== undefined && want.channels !== s.channels) ||
    (want.dtype !== undefined && want.dtype !== s.dtype);
  if (bad) {
    throw new UserError(
      `Image ${file} (${ctx}) is ${s.height}x${s.width}x${s.channels} ${s.dtype}, but the data set's images are ` +
        `${want.height}x${want.width}x${want.channels} ${want.dtype}. Re-export it at the common size and channel count, or pass --skip-bad.`,
    );
  }
}

/** All images decoded into one contiguous buffer [N, H, W, C]. */
export class MemoryImageStore implements ImageStore {
  readonly inMemory = true;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly dtype: PixelDType;
  private readonly stride: number;

  /**
   * @param buffer samples of all images back to back, [N, H, W, C]
   * @param index  row index -> position in `buffer` (identity when omitted)
   */
  constructor(
    shape: ImageShape,
    readonly buffer: Pixels,
    private readonly index?: Int32Array,
  ) {
    this.height = shape.height;
    this.width = shape.width;
    this.channels = shape.channels;
    this.dtype = shape.dtype;
    this.stride = shape.height * shape.width * shape.channels;
  }

  get size(): number {
    return this.index ? this.index.length : this.buffer.length / this.stride;
  }

  getSync(i: number): Pixels {
    if (i < 0 || i >= this.size) throw new RangeError(`image index ${i} out of range [0, ${this.size})`);
    const k = this.index ? this.index[i] : i;
    return this.buffer.subarray(k * this.stride, (k + 1) * this.stride);
  }

  get(i: number): Promise<Pixels> {
    return Promise.resolve(this.getSync(i));
  }

  subset(indices: ArrayLike<number>): MemoryImageStore {
    const idx = new Int32Array(indices.length);
    for (let j = 0; j < idx.length; j++) idx[j] = this.index ? this.index[indices[j]] : indices[j];
    return new MemoryImageStore(this, this.buffer, idx);
  }
}

/** Decodes images from disk on each `get` (for data sets larger than memory). */
export class FileImageStore implements ImageStore {
  readonly inMemory = false;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly dtype: PixelDType;

  constructor(
    shape: ImageShape,
    private readonly rows: readonly SiteRecord[],
  ) {
    this.height = shape.height;
    this.width = shape.width;
    this.channels = shape.channels;
    this.dtype = shape.dtype;
  }

  get size(): number {
    return this.rows.length;
  }

  async get(i: number): Promise<Pixels> {
    return (await decodeSite(this.rows[i], this)).data;
  }

  getSync(): Pixels {
    throw new Error('FileImageStore has no synchronous access; call Dataset.load() to hold the images in memory.');
  }

  subset(indices: ArrayLike<number>): FileImageStore {
    return new FileImageStore(this, Array.from(indices, (i) => this.rows[i]));
  }
}

/**
 * The store of a data set read for its metadata only (`metadataOnly`, `ben data info --no-check`):
 * no image was opened, so there is no shape (0 x 0) and asking for pixels is an error.
 */
export class UnreadImageStore implements ImageStore {
  readonly inMemory = false;
  readonly height = 0;
  readonly width = 0;
  readonly dtype = 'uint8' as const;

  constructor(
    readonly size: number,
    readonly channels: number,
  ) {}

  get(): Promise<Pixels> {
    return Promise.reject(new UserError('The data set was read for its metadata only (--no-check); read it again with its images to get pixels.'));
  }

  getSync(): Pixels {
    throw new UserError('The data set was read for its metadata only (--no-check); read it again with its images to get pixels.');
  }

  subset(indices: ArrayLike<number>): UnreadImageStore {
    return new UnreadImageStore(indices.length, this.channels);
  }
}
