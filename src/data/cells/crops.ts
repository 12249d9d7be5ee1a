/**
 * Single-cell crops (the unit the BEN paper trains and embeds): nuclei found on the DNA channel
 * of every site (nuclei.ts), or given by CellProfiler (locations.ts), a fixed-size crop centred on each (shifted to stay inside the field;
 * zero-padded only where the field is smaller than the crop), at most `maxPerSite` per site (a
 * seeded sample). The result is a data set whose rows are cells: the site's metadata plus the
 * cell's index and centroid in `extra` (`Cell`, `CellX`, `CellY`), pixels in memory, plates
 * contiguous in the order of the source data set.
 */
import { Dataset } from '../image-dataset.ts';
import { MemoryImageStore, type ImageShape } from '../image-store.ts';
import { hashSeed } from '../seed.ts';
import { newPixels, dtypeOf, type Pixels, type SiteRecord } from '../types.ts';
import { Rng } from '../../util/rng.ts';
import { UserError } from '../../util/errors.ts';
import { channelPlane, detectNuclei, type NucleiOptions, type NucleiResult, type Nucleus } from './nuclei.ts';
import { describeLocations, outsideError, rowSiteKey, type CellLocations } from './locations.ts';

/** Options of {@link cellCrops}. */
export interface CellCropOptions {
  /** Crop size in pixels (square). */
  size: number;
  /** At most this many cells per site (a seeded sample; default all). */
  maxPerSite?: number;
  /** The DNA channel: a name of the data set's channels or an index (default: the channel named DNA, Hoechst, DAPI or nucleus). */
  channel?: string | number;
  /** Detection settings (nuclei.ts). */
  nuclei?: NucleiOptions;
  /**
   * Given centres instead of detected ones (CellProfiler's nuclei, locations.ts): crops are cut at
   * exactly these centres, `CellX/Y` are them as given, a site without rows gives no cells.
   */
  locations?: CellLocations;
  /** Seed of the per-site sample (default 0). */
  seed?: number;
  /** Called after each site with the number of sites done. */
  onSite?: (done: number) => void;
  /**
   * Called with each site's detection (its index in `ds`, its pixels as `ds` stores them): a caller
   * that measures the same nuclei (classical features) needs no second detection.
   */
  onDetected?: (index: number, site: SiteRecord, detection: NucleiResult, px: Pixels) => void | Promise<void>;
}

/** Nuclei found and crops kept per site. */
export interface SiteCellCount {
  siteId: string;
  detected: number;
  kept: number;
}

/** What {@link cellCrops} returns. */
export interface CellCropResult {
  /** One row per kept cell. */
  data: Dataset;
  /** Per source site, in the source data set's order. */
  sites: SiteCellCount[];
  /** With given locations: the sites without rows (no cells), and one notice naming them. */
  withoutLocations?: string[];
  notice?: string;
}

const DNA_NAME = /^(orig)?(dna|hoechst|dapi|nucle(us|i)?)$/i;

/** The index of the DNA channel: `channel` by name or index, else the channel with a DNA-like name. */
export function dnaChannelIndex(channels: readonly string[], channel?: string | number): number {
  if (typeof channel === 'number') {
    if (Number.isInteger(channel) && channel >= 0 && channel < channels.length) return channel;
    throw new UserError(`data.crops.channel: ${channel} is not a channel index of this data set (0..${channels.length - 1}: ${channels.join(', ')}).`);
  }
  if (typeof channel === 'string') {
    const i = channels.findIndex((c) => c === channel || c.toLowerCase() === channel.toLowerCase());
    if (i >= 0) return i;
    throw new UserError(`data.crops.channel: "${channel}" is not a channel of this data set (${channels.join(', ')}). Name the DNA channel.`);
  }
  const i = channels.findIndex((c) => DNA_NAME.test(c));
  if (i < 0) throw new UserError(`data.crops: cannot tell which channel is the DNA stain among ${channels.join(', ')}; set data.crops.channel to its name or index.`);
  return i;
}

/**
 * Top-left offset of a `size` window centred on `c` along an axis of `length` pixels, moved to
 * stay inside [0, length) when it fits (else centred on the axis, so the padding is even).
 */
export function cropStart(c: number, length: number, size: number): number {
  if (length < size) return Math.floor((length - size) / 2);
  return Math.min(Math.max(Math.round(c - size / 2), 0), length - size);
}

/** The `size` x `size` crop of HWC `px` at top-left (y0, x0); pixels outside the image are 0. */
export function cropAt(px: Pixels, shape: ImageShape, y0: number, x0: number, size: number): Pixels {
  const C = shape.channels;
  const out = newPixels(dtypeOf(px), size * size * C);
  for (let r = 0; r < size; r++) {
    const y = y0 + r;
    if (y < 0 || y >= shape.height) continue;
    const xa = Math.max(0, x0), xb = Math.min(shape.width, x0 + size);
    if (xb <= xa) continue;
    out.set(px.subarray((y * shape.width + xa) * C, (y * shape.width + xb) * C), (r * size + (xa - x0)) * C);
  }
  return out;
}

/** Indices 0..n-1, or a seeded sample of `max` of them, in increasing order. */
export function sampleCells(n: number, max: number | undefined, rng: Rng): number[] {
  const all = Array.from({ length: n }, (_, i) => i);
  if (max === undefined || n <= max) return all;
  return (rng.shuffle(all) as number[]).slice(0, max).sort((a, b) => a - b);
}

/** Cuts single-cell crops from every site of `ds`; see the module comment. */
export async function cellCrops(ds: Dataset, o: CellCropOptions): Promise<CellCropResult> {
  if (!(Number.isInteger(o.size) && o.size > 0)) throw new UserError(`data.crops.size must be a positive integer, got ${o.size}.`);
  if (o.maxPerSite !== undefined && !(Number.isInteger(o.maxPerSite) && o.maxPerSite > 0)) throw new UserError(`data.crops.maxPerSite must be a positive integer, got ${o.maxPerSite}.`);
  const given = o.locations;
  const dna = given ? -1 : dnaChannelIndex(ds.channels, o.channel);
  const shape: ImageShape = { height: ds.height, width: ds.width, channels: ds.images.channels, dtype: ds.dtype };
  if (given && given.experimentColumns.length === 0) checkPlatesUnique(ds, given);
  const rows: SiteRecord[] = [];
  const crops: Pixels[] = [];
  const counts = new Map<number, SiteCellCount>();
  const withoutLocations: string[] = [];
  let done = 0;
  // Plates contiguous, first-seen order (the embedder's table order), sites in data set order.
  for (const [, idx] of ds.groups(['experiment', 'plate'])) {
    for (const i of idx) {
      const site = ds.rows[i];
      const px = await ds.images.get(i);
      let centres: { x: number; y: number }[];
      if (given) {
        const list = given.bySite.get(rowSiteKey(site, given));
        if (!list) withoutLocations.push(site.siteId);
        centres = list ?? [];
        for (const c of list ?? []) if (!(c.x >= -0.5 && c.x < shape.width - 0.5 && c.y >= -0.5 && c.y < shape.height - 0.5)) throw outsideError(given, c, site, shape.width, shape.height);
      } else {
        const detection = detectNuclei(channelPlane(px, shape, dna), shape.height, shape.width, o.nuclei);
        await o.onDetected?.(i, site, detection, px);
        centres = detection.nuclei;
      }
      const keep = sampleCells(centres.length, o.maxPerSite, new Rng(hashSeed(o.seed ?? 0, 0xce11, i)));
      counts.set(i, { siteId: site.siteId, detected: centres.length, kept: keep.length });
      for (const k of keep) {
        const n = centres[k];
        crops.push(cropAt(px, shape, cropStart(n.y, shape.height, o.size), cropStart(n.x, shape.width, o.size), o.size));
        rows.push({
          ...site,
          siteId: `${site.siteId}/cell${k}`,
          // Given centres are recorded as given; detected centroids to 0.1 px.
          extra: { ...site.extra, Cell: String(k), CellX: given ? String(n.x) : n.x.toFixed(1), CellY: given ? String(n.y) : n.y.toFixed(1) },
        });
      }
      o.onSite?.(++done);
    }
  }
  if (rows.length === 0) {
    if (given) {
      const example = ds.rows[0] ? rowSiteKey(ds.rows[0], given) : '-';
      throw new UserError(
        `data.crops.locations: none of the ${ds.size} sites of ${ds.root} has a centre in ${given.source} (a site is matched on ${given.experimentColumns.length ? `${given.experimentColumns.join(' + ')} + ` : ''}Metadata_Plate / Well / Site; ` +
          `the data set's first site is ${example}, the table's first is ${given.bySite.keys().next().value ?? 'none'}). Check that the table belongs to these images.`,
      );
    }
    throw new UserError(`data.crops: no nuclei found on channel ${ds.channels[dna]} of any of the ${ds.size} sites of ${ds.root}; check data.crops.channel (the DNA stain).`);
  }
  const per = o.size * o.size * shape.channels;
  const buffer = newPixels(shape.dtype, crops.length * per);
  crops.forEach((c, j) => buffer.set(c, j * per));
  const store = new MemoryImageStore({ height: o.size, width: o.size, channels: shape.channels, dtype: shape.dtype }, buffer);
  const data = new Dataset({ rows, channels: ds.channels, images: store, labels: ds.labels, root: ds.root, layout: `${ds.layout}+cells`, skipped: ds.skipped, intensity: ds.intensity, illumination: ds.illumination });
  const notice = given && withoutLocations.length
    ? `notice: ${withoutLocations.length} of ${ds.size} sites have no rows in ${describeLocations(given)} and give no cells: ${withoutLocations.slice(0, 8).join(', ')}${withoutLocations.length > 8 ? ', ...' : ''}`
    : undefined;
  return { data, sites: ds.rows.map((_, i) => counts.get(i)!), ...(given ? { withoutLocations } : {}), ...(notice ? { notice } : {}) };
}

/** Locations keyed by plate alone need plate ids unique across the data set's experiments. */
function checkPlatesUnique(ds: Dataset, given: CellLocations): void {
  const expOf = new Map<string, string>();
  for (const r of ds.rows) {
    const e = expOf.get(r.plate);
    if (e === undefined) expOf.set(r.plate, r.experiment);
    else if (e !== r.experiment) {
      throw new UserError(
        `data.crops.locations: plate ${r.plate} is in experiments ${e || '-'} and ${r.experiment || '-'} of ${ds.root}, but ${given.source} names sites by Metadata_Plate / Well / Site only; add the experiment columns (${ds.fields?.experiment?.split('/').join(', ') || 'Metadata_Experiment'}) to the locations table.`,
      );
    }
  }
}

/** Options of {@link surveyNuclei}. */
export interface NucleiSurveyOptions {
  channel?: string | number;
  nuclei?: NucleiOptions;
  /** Sites whose DNA plane and detections to return (for a figure). */
  keep?: readonly number[];
  onSite?: (done: number) => void;
}

/** Nuclei per site of a data set, and the planes and detections of the `keep` sites. */
export async function surveyNuclei(ds: Dataset, o: NucleiSurveyOptions = {}): Promise<{
  counts: SiteCellCount[];
  kept: { index: number; plane: Float32Array; nuclei: Nucleus[] }[];
}> {
  const dna = dnaChannelIndex(ds.channels, o.channel);
  const shape: ImageShape = { height: ds.height, width: ds.width, channels: ds.images.channels, dtype: ds.dtype };
  const counts: SiteCellCount[] = [];
  const kept: { index: number; plane: Float32Array; nuclei: Nucleus[] }[] = [];
  for (let i = 0; i < ds.size; i++) {
    const plane = channelPlane(await ds.images.get(i), shape, dna);
    const { nuclei } = detectNuclei(plane, shape.height, shape.width, o.nuclei);
    counts.push({ siteId: ds.rows[i].siteId, detected: nuclei.length, kept: nuclei.length });
    if (o.keep?.includes(i)) kept.push({ index: i, plane, nuclei });
    o.onSite?.(i + 1);
  }
  return { counts, kept };
}
