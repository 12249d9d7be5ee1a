/**
 * Classical per-site features, the readout a CellProfiler pipeline would give a translocation
 * assay (BBBC013: FKHR-GFP moves from the cytoplasm into the nucleus under PI3K inhibition):
 * - per channel, the intensity distribution of the whole field: mean, sd and quantiles;
 * - nuclei found on the DNA channel (data/cells/nuclei.ts): count and mean area;
 * - per channel, the mean intensity inside the nuclei and in a cytoplasm ring around each nucleus
 *   (the pixels within `ringWidth` px of it, chessboard distance, that belong to no nucleus, each
 *   given to the nearest nucleus), and for the reporter channel their ratio: over the field
 *   (mean nuclear / mean ring intensity) and the median of the per-cell ratios.
 * Intensities are the stored samples scaled to [0, 1] by the dtype's maximum (no background
 * subtraction), as CellProfiler's MeasureObjectIntensity reports them.
 */
import type { Dataset } from '../data/image-dataset.ts';
import type { ImageShape } from '../data/image-store.ts';
import { dnaChannelIndex } from '../data/cells/crops.ts';
import { channelPlane, detectNuclei, spreadTo8, type NucleiOptions, type NucleiResult } from '../data/cells/nuclei.ts';
import type { Pixels } from '../data/types.ts';
import { maxSampleValue } from '../data/preprocess.ts';
import { siteMetadata } from './embedder.ts';
import type { ProfileTable } from '../tables/profile-table.ts';
import { UserError } from '../util/errors.ts';

/** Quantiles of each channel's field intensities. */
export const CLASSICAL_QUANTILES = [0.05, 0.25, 0.5, 0.75, 0.95, 0.99] as const;

/** Options of {@link classicalFeatures}. */
export interface ClassicalFeatureOptions {
  /** The reporter channel (name or index) whose nuclear / cytoplasmic ratio is the assay readout. */
  reporter: string | number;
  /** The DNA channel (default: the channel named DNA, Hoechst, DAPI or nucleus). */
  dna?: string | number;
  /** Width of the cytoplasm ring around each nucleus in pixels (default 5). */
  ringWidth?: number;
  /** Nuclei detection settings. */
  nuclei?: NucleiOptions;
  /** Called after each site with the number done. */
  onSite?: (done: number) => void;
}

/**
 * The cytoplasm rings of a nucleus label image [H * W] (0 = background): every pixel within
 * `width` px (8-connected steps, i.e. chessboard distance) of a nucleus and inside none gets the
 * label of the nucleus reached first by a breadth-first growth from all nuclei at once (the
 * nearest; ties to the nucleus whose pixel comes first in raster order); all others are 0.
 */
export function cytoplasmRings(labels: Int32Array, height: number, width: number, ringWidth: number): Int32Array {
  if (!(Number.isInteger(ringWidth) && ringWidth >= 1)) throw new UserError(`ringWidth must be a positive integer, got ${ringWidth}.`);
  const n = height * width;
  const ring = new Int32Array(n);
  const dist = new Int32Array(n);
  const queue = new Int32Array(n);
  let head = 0;
  let tail = 0;
  const outside = new Uint8Array(n);
  for (let p = 0; p < n; p++) {
    if (labels[p]) queue[tail++] = p;
    else outside[p] = 1;
  }
  while (head < tail) {
    const p = queue[head++];
    const d = dist[p];
    if (d >= ringWidth) continue;
    spreadTo8(p, height, width, outside, ring, labels[p] || ring[p], (q) => {
      dist[q] = d + 1;
      queue[tail++] = q;
    });
  }
  return ring;
}

/** Mean intensity of one plane inside the nuclei and in their rings: over the field and per cell. */
export interface CompartmentIntensity {
  /** Mean over all nuclear pixels (NaN without nuclei). */
  nuclei: number;
  /** Mean over all ring pixels. */
  cytoplasm: number;
  /** Per nucleus (index = label - 1): mean nuclear and mean ring intensity (NaN: no ring pixel). */
  perCell: { nuclei: Float64Array; cytoplasm: Float64Array };
}

/** See {@link CompartmentIntensity}; `count` is the number of nuclei (labels 1..count). */
export function compartmentIntensity(plane: ArrayLike<number>, labels: Int32Array, ring: Int32Array, count: number): CompartmentIntensity {
  const nSum = new Float64Array(count + 1), nCnt = new Float64Array(count + 1);
  const cSum = new Float64Array(count + 1), cCnt = new Float64Array(count + 1);
  for (let p = 0; p < labels.length; p++) {
    const v = plane[p];
    if (labels[p]) {
      nSum[labels[p]] += v;
      nCnt[labels[p]]++;
    } else if (ring[p]) {
      cSum[ring[p]] += v;
      cCnt[ring[p]]++;
    }
  }
  let ns = 0, nc = 0, cs = 0, cc = 0;
  const perN = new Float64Array(count), perC = new Float64Array(count);
  for (let l = 1; l <= count; l++) {
    ns += nSum[l];
    nc += nCnt[l];
    cs += cSum[l];
    cc += cCnt[l];
    perN[l - 1] = nCnt[l] ? nSum[l] / nCnt[l] : NaN;
    perC[l - 1] = cCnt[l] ? cSum[l] / cCnt[l] : NaN;
  }
  return { nuclei: nc ? ns / nc : NaN, cytoplasm: cc ? cs / cc : NaN, perCell: { nuclei: perN, cytoplasm: perC } };
}

/**
 * Exact quantiles (numpy's linear interpolation) of channel `c` of integer HWC samples, scaled to
 * [0, 1] by `max`, from a histogram of the sample values (no sort), with the mean and the
 * population sd.
 */
export function channelIntensityStats(px: Pixels, channels: number, c: number, max: number, qs: readonly number[]): { mean: number; sd: number; quantiles: number[] } {
  const hist = new Float64Array(max + 1);
  const m = px.length / channels;
  let s = 0, ss = 0;
  for (let p = 0; p < m; p++) {
    const v = px[p * channels + c];
    hist[v]++;
    s += v;
    ss += v * v;
  }
  const mean = s / m;
  const sd = Math.sqrt(Math.max(0, ss / m - mean * mean));
  // The value at sorted position k (0-based) from the cumulative counts.
  const cum = new Float64Array(max + 2);
  for (let v = 0; v <= max; v++) cum[v + 1] = cum[v] + hist[v];
  const at = (k: number) => {
    let lo = 0, hi = max;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cum[mid + 1] > k) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };
  const quantiles = qs.map((q) => {
    const h = (m - 1) * q;
    const a = Math.floor(h);
    const va = at(a), vb = at(Math.min(a + 1, m - 1));
    return (va + (h - a) * (vb - va)) / max;
  });
  return { mean: mean / max, sd: sd / max, quantiles };
}

const qName = (q: number) => (q === 0.5 ? 'Median' : `Q${String(Math.round(q * 100)).padStart(2, '0')}`);

/** The feature names of {@link siteClassicalFeatures} for channels `names` and reporter `reporter`. */
export function classicalFeatureNames(names: readonly string[], reporter: string): string[] {
  const out: string[] = [];
  for (const c of names) out.push(`Intensity_Mean_${c}`, `Intensity_SD_${c}`, ...CLASSICAL_QUANTILES.map((q) => `Intensity_${qName(q)}_${c}`));
  out.push('Nuclei_Count', 'Nuclei_AreaMean');
  for (const c of names) out.push(`Nuclei_Mean_${c}`, `Cytoplasm_Mean_${c}`);
  out.push(`Ratio_NucleiCytoplasm_${reporter}`, `Ratio_NucleiCytoplasm_CellMedian_${reporter}`);
  return out;
}

/**
 * The features of one site (HWC samples `px` of `shape`), in {@link classicalFeatureNames} order;
 * the nuclei are found on channel `dna`, or given (`detection`, e.g. the one the cell crops used).
 */
export function siteClassicalFeatures(px: Pixels, shape: ImageShape, o: { dna: number; reporter: number; ringWidth?: number; nuclei?: NucleiOptions; detection?: NucleiResult }): number[] {
  const { height, width, channels } = shape;
  const max = maxSampleValue(shape.dtype);
  const out: number[] = [];
  for (let c = 0; c < channels; c++) {
    const s = channelIntensityStats(px, channels, c, max, CLASSICAL_QUANTILES);
    out.push(s.mean, s.sd, ...s.quantiles);
  }
  const det = o.detection ?? detectNuclei(channelPlane(px, shape, o.dna), height, width, o.nuclei);
  const count = det.nuclei.length;
  out.push(count, count ? det.nuclei.reduce((a, n) => a + n.area, 0) / count : NaN);
  const ring = cytoplasmRings(det.labels, height, width, o.ringWidth ?? 5);
  let reporter: CompartmentIntensity | undefined;
  for (let c = 0; c < channels; c++) {
    const r = compartmentIntensity(channelPlane(px, shape, c), det.labels, ring, count);
    if (c === o.reporter) reporter = r;
    out.push(r.nuclei, r.cytoplasm);
  }
  const ratios: number[] = [];
  for (let i = 0; i < count; i++) {
    const v = reporter!.perCell.nuclei[i] / reporter!.perCell.cytoplasm[i];
    if (Number.isFinite(v)) ratios.push(v);
  }
  ratios.sort((a, b) => a - b);
  const med = ratios.length ? (ratios[(ratios.length - 1) >> 1] + ratios[ratios.length >> 1]) / 2 : NaN;
  out.push(reporter!.nuclei / reporter!.cytoplasm, med);
  return out;
}

/** The index of channel `ch` (a name or an index) of `names`. */
function channelIndex(names: readonly string[], ch: string | number, field: string): number {
  const i = typeof ch === 'number' ? ch : names.findIndex((n) => n.toLowerCase() === ch.toLowerCase());
  if (!(Number.isInteger(i) && i >= 0 && i < names.length)) throw new UserError(`${field}: "${ch}" is not a channel of this data set (${names.join(', ')}).`);
  return i;
}

/**
 * Classical features of the sites of `ds` (pixels as stored: read the data set without intensity
 * scaling), measured one site at a time on a detection made here or handed in (`detection`, e.g.
 * by the cell crops, which found the same sites' nuclei), then collected into a table.
 */
export function classicalCollector(ds: Dataset, o: ClassicalFeatureOptions): {
  /** Measures site `index` of `ds` (its id `siteId` checked) on `detection`, or detects its nuclei. */
  measure(index: number, siteId: string, detection?: NucleiResult): Promise<void>;
  /** The table, once every site is measured: see {@link classicalFeatures}. */
  table(): ProfileTable;
} {
  const dna = dnaChannelIndex(ds.channels, o.dna);
  const reporter = channelIndex(ds.channels, o.reporter, 'reporter channel');
  const shape: ImageShape = { height: ds.height, width: ds.width, channels: ds.images.channels, dtype: ds.dtype };
  const featureNames = classicalFeatureNames(ds.channels, ds.channels[reporter]);
  const d = featureNames.length;
  const features = new Float32Array(ds.size * d);
  const done = new Uint8Array(ds.size);
  let count = 0;
  return {
    async measure(index, siteId, detection) {
      if (ds.rows[index]?.siteId !== siteId) throw new Error(`classical features: site ${index} is ${ds.rows[index]?.siteId}, not ${siteId}`);
      features.set(siteClassicalFeatures(await ds.images.get(index), shape, { dna, reporter, ringWidth: o.ringWidth, nuclei: o.nuclei, detection }), index * d);
      if (!done[index]) (done[index] = 1), o.onSite?.(++count);
    },
    table() {
      const missing = ds.rows.filter((_, i) => !done[i]).map((r) => r.siteId);
      if (missing.length) throw new Error(`classical features: ${missing.length} sites not measured (${missing.slice(0, 3).join(', ')}...)`);
      return {
        n: ds.size,
        d,
        meta: siteMetadata(ds.rows),
        featureNames,
        features,
        keyValue: { features: 'classical', reporter: ds.channels[reporter], dna: ds.channels[dna], ring_width: String(o.ringWidth ?? 5), intensity: 'as stored, scaled to [0, 1]' },
      };
    },
  };
}

/**
 * One profile per site of `ds` (pixels as stored: read the data set without intensity scaling):
 * the embedding tables' `Metadata_*` columns and the features of {@link classicalFeatureNames}.
 */
export async function classicalFeatures(ds: Dataset, o: ClassicalFeatureOptions): Promise<ProfileTable> {
  const c = classicalCollector(ds, o);
  for (let i = 0; i < ds.size; i++) await c.measure(i, ds.rows[i].siteId);
  return c.table();
}
