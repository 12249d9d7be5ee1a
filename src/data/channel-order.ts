/**
 * Channels chosen and ordered by name: a model trained on [DNA, GFP] embeds a data set read as
 * [GFP, DNA] with its channels swapped back, not by position.
 */
import { newPixels, type Pixels } from './types.ts';
import { MemoryImageStore, type ImageStore } from './image-store.ts';

/** Channel names compared loosely: CellProfiler's `OrigDNA` is `DNA`, case aside. */
export const channelKey = (c: string): string => c.replace(/^orig/i, '').toLowerCase();

/** For each wanted channel, its index among `have` (loose names), or -1 when absent. */
export function channelIndices(want: readonly string[], have: readonly string[]): number[] {
  const keys = have.map(channelKey);
  return want.map((c) => keys.indexOf(channelKey(c)));
}

function pick(src: Pixels, pixels: number, from: number, order: readonly number[], out: Pixels): Pixels {
  const to = order.length;
  for (let p = 0; p < pixels; p++) for (let c = 0; c < to; c++) out[p * to + c] = src[p * from + order[c]];
  return out;
}

/** Images decoded on demand, their channels picked in `order` after decoding. */
class ChannelOrderStore implements ImageStore {
  readonly inMemory = false;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly dtype: ImageStore['dtype'];

  constructor(
    private readonly base: ImageStore,
    private readonly order: readonly number[],
  ) {
    this.height = base.height;
    this.width = base.width;
    this.channels = order.length;
    this.dtype = base.dtype;
  }

  get size(): number {
    return this.base.size;
  }

  async get(i: number): Promise<Pixels> {
    const src = await this.base.get(i);
    const pixels = this.height * this.width;
    return pick(src, pixels, this.base.channels, this.order, newPixels(this.dtype, pixels * this.order.length));
  }

  getSync(): Pixels {
    throw new Error('ChannelOrderStore has no synchronous access; call Dataset.load() to hold the images in memory.');
  }

  subset(indices: ArrayLike<number>): ImageStore {
    return new ChannelOrderStore(this.base.subset(indices), this.order);
  }
}

/**
 * `store` with channels `order` (indices into its channels, any subset in any order). An
 * in-memory store is copied once into the new order; a store that decodes on demand reorders
 * each image as it is decoded.
 */
export function withChannelOrder(store: ImageStore, order: readonly number[]): ImageStore {
  if (!store.inMemory) return new ChannelOrderStore(store, order);
  const pixels = store.height * store.width;
  const per = pixels * order.length;
  const buffer = newPixels(store.dtype, store.size * per);
  for (let i = 0; i < store.size; i++) pick(store.getSync(i), pixels, store.channels, order, buffer.subarray(i * per, (i + 1) * per));
  return new MemoryImageStore({ height: store.height, width: store.width, channels: order.length, dtype: store.dtype }, buffer);
}
