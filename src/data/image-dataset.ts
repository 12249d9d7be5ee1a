import { stat, readdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { UserError, isUserError } from '../util/errors.ts';
import { SKIP_BAD_HINT } from './decode.ts';
import { FileImageStore, MemoryImageStore, UnreadImageStore, decodeSite, type ImageShape, type ImageStore } from './image-store.ts';
import { channelIndices, withChannelOrder } from './channel-order.ts';
import { NO_ILLUMINATION, type IlluminationRecord } from './illumination/record.ts';
import { NO_SPLIT, bytesPerSample, newPixels, plateKey, type GroupKey, type PixelDType, type SiteRecord, type SkippedSite } from './types.ts';

/** Key string of `row` over `keys`, e.g. `HEPG2-01/2` for [experiment, plate]. */
export function groupKey(row: SiteRecord, keys: readonly GroupKey[]): string {
  return keys.map((k) => String(row[k])).join('/');
}

/** The columns that identify a well (a well id repeats across plates). */
export const WELL_KEYS: readonly GroupKey[] = ['experiment', 'plate', 'well'];

/** Row indices by group key, groups in first-seen order, rows in table order. */
export function groupRows(rows: readonly SiteRecord[], keys: readonly GroupKey[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  rows.forEach((r, i) => {
    const k = groupKey(r, keys);
    const g = out.get(k);
    if (g) g.push(i);
    else out.set(k, [i]);
  });
  return out;
}

/** The distinct plates as `experiment/plate` keys, sorted. */
export function listPlates(rows: readonly SiteRecord[]): string[] {
  return [...groupRows(rows, ['experiment', 'plate']).keys()].sort();
}

/**
 * The label vocabulary: distinct labels sorted with numeric parts compared as numbers
 * (`siRNA-2` < `siRNA-10`), so class ids are stable whichever split is read first.
 */
export function labelVocabulary(rows: readonly SiteRecord[]): string[] {
  const coll = new Intl.Collator('en', { numeric: true });
  return [...new Set(rows.map((r) => r.label))].sort(coll.compare);
}

/** Class id of each row (int32) under `vocabulary`; a label outside it is an error. */
export function classIds(rows: readonly SiteRecord[], vocabulary: readonly string[]): Int32Array {
  const index = new Map(vocabulary.map((l, i) => [l, i]));
  return Int32Array.from(rows, (r) => {
    const id = index.get(r.label);
    if (id === undefined) throw new UserError(`Label "${r.label}" (${r.source}) is not in the label vocabulary; rebuild the vocabulary from the full data set.`);
    return id;
  });
}

/** Counts to print after reading a data set. */
export interface DatasetSummary {
  images: number;
  experiments: number;
  plates: number;
  wells: number;
  labels: number;
  channels: string[];
  height: number;
  width: number;
  dtype: PixelDType;
  inMemory: boolean;
  splits: Record<string, number>;
  skipped: number;
  /** Plate keys (`experiment/plate`, unique in the data set), sorted. */
  plateKeys: string[];
  /** Which metadata columns gave label, experiment and control wells (user-table readers). */
  fields?: DatasetFields;
  /** Intensity scaling applied to the pixels (`raw` when none). */
  intensity: Record<string, unknown>;
  /** Illumination correction (mode, function files per plate). */
  illumination: IlluminationRecord;
  /** False when only the metadata was read (no image opened: no shape). */
  imagesRead: boolean;
}

/** Where a reader took the site fields from, recorded in summaries and outputs. */
export interface DatasetFields {
  label: string;
  experiment: string;
  controls: string;
}

/** What {@link Dataset} is built from. */
export interface DatasetInit {
  rows: SiteRecord[];
  channels: string[];
  images: ImageStore;
  /** Label vocabulary of the whole data set (kept by subsets so class ids stay stable). */
  labels?: string[];
  /** Folder or file the data set was read from. */
  root: string;
  /** Reader layout name. */
  layout: string;
  /** Rows dropped by `skipBad`. */
  skipped?: SkippedSite[];
  fields?: DatasetFields;
  /** Description of the intensity scaling the image store applies (default `{ mode: 'raw' }`). */
  intensity?: Record<string, unknown>;
  /** The illumination correction the image store applies (default none). */
  illumination?: IlluminationRecord;
}

/**
 * A data set: its metadata table (one {@link SiteRecord} per site), its channel names, and its
 * image store (`images.get(i)` -> HWC pixels of row i). Subsets share the decoded pixels.
 */
export class Dataset {
  readonly rows: SiteRecord[];
  readonly channels: string[];
  readonly images: ImageStore;
  readonly labels: string[];
  readonly root: string;
  readonly layout: string;
  readonly skipped: SkippedSite[];
  /** Where the site fields came from (set by user-table readers). */
  fields?: DatasetFields;
  /** The intensity scaling the image store applies, as recorded in outputs. */
  readonly intensity: Record<string, unknown>;
  /** The illumination correction the image store applies, as recorded in outputs. */
  readonly illumination: IlluminationRecord;

  constructor(init: DatasetInit) {
    if (init.images.size !== init.rows.length) throw new Error(`image store has ${init.images.size} images for ${init.rows.length} rows`);
    this.rows = init.rows;
    this.channels = init.channels;
    this.images = init.images;
    this.labels = init.labels ?? labelVocabulary(init.rows);
    this.root = init.root;
    this.layout = init.layout;
    this.skipped = init.skipped ?? [];
    this.fields = init.fields;
    this.intensity = init.intensity ?? { mode: 'raw' };
    this.illumination = init.illumination ?? NO_ILLUMINATION;
  }

  get size(): number {
    return this.rows.length;
  }
  get height(): number {
    return this.images.height;
  }
  get width(): number {
    return this.images.width;
  }
  get dtype(): PixelDType {
    return this.images.dtype;
  }

  /** Class id of every row under the data set's label vocabulary, [N] int32. */
  classIds(): Int32Array {
    return classIds(this.rows, this.labels);
  }

  /** The rows `indices` (same vocabulary, shared pixels). */
  subset(indices: ArrayLike<number>): Dataset {
    return new Dataset({
      ...this,
      rows: Array.from(indices, (i) => this.rows[i]),
      images: this.images.subset(indices),
      labels: this.labels,
    });
  }

  /** The rows for which `pred` holds. */
  filter(pred: (row: SiteRecord, i: number) => boolean): Dataset {
    const idx: number[] = [];
    this.rows.forEach((r, i) => pred(r, i) && idx.push(i));
    return this.subset(idx);
  }

  /**
   * The rows of the named split(s), e.g. `split('train')` or `split(['val', 'test'])`. `all`
   * ({@link NO_SPLIT}) is every row, whether or not the data set has a split column; a data set
   * read without one returns all its rows for any name.
   */
  split(names: string | readonly string[]): Dataset {
    const want = new Set(typeof names === 'string' ? [names] : names);
    const known = new Set(this.rows.map((r) => r.split));
    if (want.has(NO_SPLIT) || (known.size === 1 && known.has(NO_SPLIT))) return this;
    for (const n of want) {
      if (!known.has(n)) throw new UserError(`Split "${n}" has no rows in ${this.root}. Known splits: ${[...known].sort().join(', ')}; "${NO_SPLIT}" selects every row.`);
    }
    return this.filter((r) => want.has(r.split));
  }

  /**
   * The channels `names` in that order (loose names: `OrigDNA` is `DNA`), sharing the rows. A
   * name the data set lacks is a UserError listing its channels.
   */
  selectChannels(names: readonly string[]): Dataset {
    const order = channelIndices(names, this.channels);
    const missing = names.filter((_, k) => order[k] < 0);
    if (missing.length) throw new UserError(`Channel${missing.length > 1 ? 's' : ''} ${missing.join(', ')} not in the data set ${this.root}, whose channels are [${this.channels.join(', ')}].`);
    if (order.length === this.channels.length && order.every((c, k) => c === k)) return this;
    return new Dataset({ ...this, channels: order.map((c) => this.channels[c]), images: withChannelOrder(this.images, order), labels: this.labels });
  }

  /** Row indices by group (see {@link groupRows}). */
  groups(keys: readonly GroupKey[] = ['experiment', 'plate']): Map<string, number[]> {
    return groupRows(this.rows, keys);
  }

  /** Sorted `experiment/plate` keys. */
  plates(): string[] {
    return listPlates(this.rows);
  }

  /**
   * Decodes every image into memory (no-op when already there). With `skipBad`, sites whose
   * images fail are dropped and listed in `skipped`; otherwise the first failure throws.
   */
  async load(opts: { skipBad?: boolean; concurrency?: number; onProgress?: (n: number) => void } = {}): Promise<Dataset> {
    if (this.images.inMemory) return this;
    const loaded = await decodeAll(this.rows, this.images, opts);
    const keep = loaded.ok;
    const rows = keep.map((i) => this.rows[i]);
    return new Dataset({
      ...this,
      rows,
      images: loaded.store,
      labels: this.labels,
      skipped: [...this.skipped, ...loaded.skipped],
    });
  }

  /** Counts for `ben data info` and logs. */
  summary(): DatasetSummary {
    const splits: Record<string, number> = {};
    for (const r of this.rows) splits[r.split] = (splits[r.split] ?? 0) + 1;
    return {
      images: this.size,
      experiments: new Set(this.rows.map((r) => r.experiment)).size,
      plates: this.plates().length,
      wells: groupRows(this.rows, ['experiment', 'plate', 'well']).size,
      labels: new Set(this.rows.map((r) => r.label)).size,
      channels: this.channels,
      height: this.height,
      width: this.width,
      dtype: this.dtype,
      inMemory: this.images.inMemory,
      splits,
      skipped: this.skipped.length,
      plateKeys: [...new Set(this.rows.map(plateKey))].sort(),
      ...(this.fields ? { fields: this.fields } : {}),
      intensity: this.intensity,
      illumination: this.illumination,
      imagesRead: !(this.images instanceof UnreadImageStore),
    };
  }
}

async function decodeAll(
  rows: readonly SiteRecord[],
  shape: ImageStore,
  opts: { skipBad?: boolean; concurrency?: number; onProgress?: (n: number) => void },
): Promise<{ ok: number[]; store: MemoryImageStore; skipped: SkippedSite[] }> {
  const per = shape.height * shape.width * shape.channels;
  const buffer = newPixels(shape.dtype, rows.length * per);
  const good = new Uint8Array(rows.length);
  const skipped: SkippedSite[] = [];
  let next = 0;
  let failure: unknown;
  let failedAt = Infinity;
  const worker = async () => {
    while (next < rows.length && failure === undefined) {
      const i = next++;
      try {
        // Through the store, so a store that transforms pixels (intensity scaling) is loaded transformed.
        const data = await shape.get(i);
        buffer.set(data, i * per);
        good[i] = 1;
      } catch (e) {
        if (!opts.skipBad || !isUserError(e)) {
          // Report the first bad row in table order, whichever decode finished first.
          if (i < failedAt) {
            failedAt = i;
            failure = e;
          }
          return;
        }
        skipped.push({ source: rows[i].source, siteId: rows[i].siteId, file: rows[i].paths.join(';'), reason: (e as Error).message });
      }
      opts.onProgress?.(1);
    }
  };
  // sharp decodes on libuv's thread pool: a few requests in flight keep both cores busy.
  await Promise.all(Array.from({ length: opts.concurrency ?? 8 }, worker));
  if (failure !== undefined) throw failure;
  const ok: number[] = [];
  good.forEach((g, i) => g && ok.push(i));
  const full = new MemoryImageStore(shape, buffer);
  return { ok, store: ok.length === rows.length ? full : full.subset(ok), skipped };
}

/** Options common to every reader. */
export interface ReadOptions {
  /** Skip bad sites (missing/corrupt/mis-sized images, duplicate or incomplete rows) and count them, instead of failing. */
  skipBad?: boolean;
  /**
   * Decode all images into memory now (`true`), never (`false`: decode on each access), or when the
   * data set fits in `memoryLimitBytes` (`'auto'`, the default).
   */
  load?: boolean | 'auto';
  /** Memory budget for `load: 'auto'` (default 4 GiB). */
  memoryLimitBytes?: number;
  /** Progress callback while decoding (images done). */
  onProgress?: (n: number) => void;
  /** Label vocabulary order (class id = position); default: the labels sorted naturally. */
  labelOrder?: string[];
  /**
   * Read the metadata only: no image is opened (files are not checked, the shape stays 0 x 0,
   * asking for pixels is an error). `ben data info --no-check`.
   */
  metadataOnly?: boolean;
}

/**
 * Builds a {@link Dataset} from a reader's rows: refuses (or with `skipBad` drops) duplicate sites
 * and rows without a plate, checks every plate folder and file exists, finds the common image
 * shape from the first readable site, then loads the pixels as `opts.load` asks.
 */
export async function assembleDataset(
  rows: SiteRecord[],
  channels: string[],
  root: string,
  layout: string,
  opts: ReadOptions = {},
): Promise<Dataset> {
  const skipped: SkippedSite[] = [];
  const bad = (r: SiteRecord, reason: string, file?: string) => {
    if (!opts.skipBad) throw new UserError(reason);
    skipped.push({ source: r.source, siteId: r.siteId, file, reason });
  };
  // Structure: plate ids present, sites unique.
  const seen = new Map<string, SiteRecord>();
  let kept: SiteRecord[] = [];
  for (const r of rows) {
    if (r.plate === '') {
      bad(r, `${r.source}: the plate is empty for site ${r.siteId}. Fill in the plate column, or ${SKIP_BAD_HINT}.`);
      continue;
    }
    const key = `${r.experiment}/${r.plate}/${r.well}/${r.site}`;
    const prev = seen.get(key);
    if (prev) {
      bad(r, `${r.source}: duplicate site (experiment ${r.experiment || '-'}, plate ${r.plate}, well ${r.well}, site ${r.site}), already at ${prev.source}. Remove one of the rows, or ${SKIP_BAD_HINT}.`);
      continue;
    }
    seen.set(key, r);
    kept.push(r);
  }
  if (opts.metadataOnly) {
    if (kept.length === 0) throw new UserError(`No sites in ${root}${skipped.length ? ` (${skipped.length} skipped as bad)` : ''}.`);
    return new Dataset({ rows: kept, channels, images: new UnreadImageStore(kept.length, channels.length), root, layout, skipped, labels: opts.labelOrder?.filter((l) => kept.some((r) => r.label === l)) });
  }
  // Files: a plate folder that is missing or empty is reported once, by plate.
  const dirState = new Map<string, 'ok' | 'missing' | 'empty'>();
  const stateOf = async (dir: string) => {
    let s = dirState.get(dir);
    if (s === undefined) {
      try {
        s = (await readdir(dir)).length === 0 ? 'empty' : 'ok';
      } catch {
        s = 'missing';
      }
      dirState.set(dir, s);
    }
    return s;
  };
  const present: SiteRecord[] = [];
  for (const r of kept) {
    let ok = true;
    for (const p of r.paths) {
      const dir = dirname(p);
      const s = await stateOf(dir);
      if (s !== 'ok') {
        bad(r, `Plate ${r.experiment ? r.experiment + '/' : ''}${r.plate} (${r.source}) has no images: folder ${dir} is ${s}. Restore the plate's images, remove its rows from the metadata, or ${SKIP_BAD_HINT}.`, p);
        ok = false;
        break;
      }
      try {
        const st = await stat(p);
        if (!st.isFile()) throw new Error('not a file');
      } catch {
        bad(r, `Image ${p} (site ${r.siteId}, ${r.source}) does not exist. Fix the path in the metadata, restore the file, or ${SKIP_BAD_HINT}.`, p);
        ok = false;
        break;
      }
    }
    if (ok) present.push(r);
  }
  kept = present;
  if (kept.length === 0) throw new UserError(`No readable sites in ${root}${skipped.length ? ` (${skipped.length} skipped as bad)` : ''}.`);
  // Common shape: the first site that decodes.
  let shape: ImageShape | undefined;
  while (!shape && kept.length > 0) {
    try {
      shape = (await decodeSite(kept[0])).shape;
    } catch (e) {
      if (!opts.skipBad || !isUserError(e)) throw e;
      skipped.push({ source: kept[0].source, siteId: kept[0].siteId, file: kept[0].paths.join(';'), reason: (e as Error).message });
      kept = kept.slice(1);
    }
  }
  if (!shape) throw new UserError(`No readable images in ${root} (${skipped.length} sites skipped as bad).`);
  if (channels.length !== shape.channels) {
    const msg =
      `${root}: the layout names ${channels.length} channel(s) (${channels.join(', ')}) but the images have ${shape.channels}. Check the channel columns or the images` +
      (rows[0]?.paths.length === 1 && shape.channels > 1 ? ` (a file holding every channel, such as a multi-page or OME-TIFF, names them with data.channels / --channels, in the file's order).` : '.');
    throw new UserError(msg);
  }
  const labels = opts.labelOrder?.filter((l) => kept.some((r) => r.label === l));
  const lazy = new Dataset({ rows: kept, channels, images: new FileImageStore(shape, kept), root, layout, skipped, labels });
  const bytes = kept.length * shape.height * shape.width * shape.channels * bytesPerSample(shape.dtype);
  const load = opts.load ?? 'auto';
  if (load === true || (load === 'auto' && bytes <= (opts.memoryLimitBytes ?? 4 * 2 ** 30))) {
    return lazy.load({ skipBad: opts.skipBad, onProgress: opts.onProgress });
  }
  return lazy;
}
