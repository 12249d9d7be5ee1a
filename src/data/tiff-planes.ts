/**
 * Which page (IFD) of a multi-page TIFF holds which plane. Three conventions:
 * - OME-TIFF: the first page's ImageDescription is OME-XML; each `<Image>` is a series whose
 *   planes (C, Z, T in its `DimensionOrder`) sit in the IFDs its `<TiffData>` elements name
 *   (default: one plane per IFD, in order, series after series).
 * - ImageJ / Fiji hyperstacks: `images=`, `channels=`, `slices=`, `frames=` lines; one series,
 *   planes in C, Z, T order, one per page.
 * - Any other multi-page TIFF: one series whose planes are its full-resolution pages
 *   (reduced-resolution copies, NewSubfileType bit 0, and pages of another size are skipped).
 * A plane is named as CellProfiler's LoadData names it: `Series_<Ch>` (the series, from 0) and
 * `Frame_<Ch>` (the plane inside the series, from 0, as Bio-Formats numbers them).
 */
import type { TiffHeader } from './tiff.ts';

/** One plane of a multi-plane file: CellProfiler's `Series_<Ch>` and `Frame_<Ch>`, both from 0. */
export interface PlaneRef {
  series: number;
  frame: number;
}

/** The planes of one series. */
interface Series {
  /** IFD of each plane, in the series' own plane order (undefined: stored in another file). */
  ifds: (number | undefined)[];
  sizeC: number;
  sizeZ: number;
  sizeT: number;
  /** The plane index of (c, z, t). */
  planeOf(c: number, z: number, t: number): number;
  channelNames?: string[];
}

/** The plane layout of a TIFF. */
export interface PlaneLayout {
  /** Which convention the file follows. */
  kind: 'ome' | 'imagej' | 'pages';
  series: Series[];
}

/** The value of attribute `name` in a tag's text, or undefined. */
function attr(tag: string, name: string): string | undefined {
  const m = new RegExp(`\\s${name}\\s*=\\s*("([^"]*)"|'([^']*)')`).exec(tag);
  return m ? (m[2] ?? m[3]) : undefined;
}

const intAttr = (tag: string, name: string, dflt: number) => {
  const v = attr(tag, name);
  const n = v === undefined ? dflt : Number(v);
  return Number.isInteger(n) && n >= 0 ? n : dflt;
};

/** The plane index of (c, z, t) for an OME DimensionOrder (`XYCZT`: C fastest). */
function orderIndex(order: string, sizes: { C: number; Z: number; T: number }): (c: number, z: number, t: number) => number {
  const dims = (/^XY[CZT]{3}$/.test(order) ? order.slice(2) : 'CZT').split('') as ('C' | 'Z' | 'T')[];
  return (c, z, t) => {
    const at = { C: c, Z: z, T: t };
    let idx = 0, stride = 1;
    for (const d of dims) {
      idx += at[d] * stride;
      stride *= sizes[d];
    }
    return idx;
  };
}

/**
 * The series of an OME-XML document (one per `<Image>`), with each plane's IFD as the
 * `<TiffData>` elements place it; a plane whose TiffData names another file is undefined.
 * Undefined when the text is not OME-XML.
 */
function omeSeries(xml: string, fileName: string | undefined): Series[] | undefined {
  if (!/<(\w+:)?OME[\s>]/.test(xml)) return undefined;
  const images = [...xml.matchAll(/<(?:\w+:)?Image[\s>][\s\S]*?<\/(?:\w+:)?Image>/g)].map((m) => m[0]);
  const out: Series[] = [];
  let nextIfd = 0;
  for (const image of images) {
    const pixels = /<(?:\w+:)?Pixels\s[^>]*>/.exec(image)?.[0];
    if (!pixels) continue;
    const sizes = { C: intAttr(pixels, 'SizeC', 1), Z: intAttr(pixels, 'SizeZ', 1), T: intAttr(pixels, 'SizeT', 1) };
    // An RGB channel (SamplesPerPixel 3) is one plane holding three of SizeC's channels.
    const channelTags = [...image.matchAll(/<(?:\w+:)?Channel[\s/>][^>]*>/g)].map((m) => m[0]);
    const spp = channelTags.length ? Math.max(1, intAttr(channelTags[0], 'SamplesPerPixel', 1)) : 1;
    const effC = Math.max(1, Math.round(sizes.C / spp));
    const planeOf = orderIndex(attr(pixels, 'DimensionOrder') ?? 'XYCZT', { C: effC, Z: sizes.Z, T: sizes.T });
    const n = effC * sizes.Z * sizes.T;
    const ifds: (number | undefined)[] = new Array(n).fill(undefined);
    const tiffData = [...image.matchAll(/<(?:\w+:)?TiffData(?:\s[^>]*)?\/?>(?:([\s\S]*?)<\/(?:\w+:)?TiffData>)?/g)];
    if (tiffData.length === 0) {
      for (let p = 0; p < n; p++) ifds[p] = nextIfd + p;
    }
    for (const td of tiffData) {
      const tag = /<(?:\w+:)?TiffData[^>]*>/.exec(td[0])![0];
      // Planes in another file of a multi-file OME-TIFF set are not in this one.
      const uuid = td[1] ? /<(?:\w+:)?UUID[^>]*>/.exec(td[1])?.[0] : undefined;
      const other = uuid && fileName !== undefined && attr(uuid, 'FileName') !== undefined && attr(uuid, 'FileName') !== fileName;
      const ifd = intAttr(tag, 'IFD', 0);
      const hasIfd = attr(tag, 'IFD') !== undefined;
      const count = attr(tag, 'PlaneCount') !== undefined ? intAttr(tag, 'PlaneCount', 1) : hasIfd ? 1 : n;
      const first = planeOf(intAttr(tag, 'FirstC', 0), intAttr(tag, 'FirstZ', 0), intAttr(tag, 'FirstT', 0));
      for (let k = 0; k < count && first + k < n; k++) ifds[first + k] = other ? undefined : ifd + k;
    }
    nextIfd += n;
    const names = channelTags.map((t) => attr(t, 'Name') ?? '');
    out.push({ ifds, sizeC: effC, sizeZ: sizes.Z, sizeT: sizes.T, planeOf, ...(names.length === effC && names.every(Boolean) ? { channelNames: names } : {}) });
  }
  return out.length ? out : undefined;
}

/** ImageJ's hyperstack sizes from its description (`ImageJ=...\nchannels=5\nslices=1...`). */
function imageJSeries(desc: string, pages: number): Series | undefined {
  if (!/^ImageJ=/m.test(desc)) return undefined;
  const num = (k: string) => {
    const m = new RegExp(`^${k}=(\\d+)`, 'm').exec(desc);
    return m ? Number(m[1]) : 1;
  };
  const sizes = { C: num('channels'), Z: num('slices'), T: num('frames') };
  const n = sizes.C * sizes.Z * sizes.T;
  // Files over 4 GB hold one IFD and contiguous planes; read page by page only what IFDs exist.
  const ifds = Array.from({ length: n }, (_, p) => (p < pages ? p : undefined));
  return { ifds, sizeC: sizes.C, sizeZ: sizes.Z, sizeT: sizes.T, planeOf: orderIndex('XYCZT', sizes) };
}

/** The plane layout of a TIFF with these pages (`fileName`: its base name, for multi-file OME sets). */
export function planeLayout(pages: readonly TiffHeader[], fileName?: string): PlaneLayout {
  const desc = pages[0]?.description ?? '';
  const ome = omeSeries(desc, fileName);
  if (ome) return { kind: 'ome', series: ome };
  const ij = imageJSeries(desc, pages.length);
  if (ij) return { kind: 'imagej', series: [ij] };
  // Pages of another size than the first full-resolution page (a preview, a label) are not planes.
  const main = pages.find((p) => (p.subfileType & 1) === 0);
  const full = pages.flatMap((p, i) => ((p.subfileType & 1) === 0 && p.width === main?.width && p.height === main.height ? [i] : []));
  return { kind: 'pages', series: [{ ifds: full, sizeC: full.length, sizeZ: 1, sizeT: 1, planeOf: (c) => c }] };
}

/** Why a plane has no page here, and what to do. */
const NO_PAGE = `stored in another file of a multi-file OME-TIFF set, or in an ImageJ file over 4 GB without pages; name each channel's file and plane in LoadData FileName_/Frame_ columns, or re-save the stack as OME-TIFF`;

/** Where a plane is: its IFD, or why it cannot be read (a message fragment). */
export function planeIfd(layout: PlaneLayout, ref: PlaneRef): number | string {
  const s = layout.series[ref.series];
  const what = layout.kind === 'ome' ? 'OME-TIFF' : layout.kind === 'imagej' ? 'ImageJ TIFF' : 'TIFF';
  if (!s) return `has ${layout.series.length} series (${what}), so Series ${ref.series} does not exist (series count from 0)`;
  if (ref.frame >= s.ifds.length) return `has ${s.ifds.length} plane(s) in series ${ref.series} (${what}), so Frame ${ref.frame} does not exist (frames count from 0)`;
  const ifd = s.ifds[ref.frame];
  if (ifd === undefined) return `has no page for plane ${ref.frame} of series ${ref.series} (${NO_PAGE})`;
  return ifd;
}

/**
 * The IFDs of the channels of series 0, for reading a whole file as one multi-channel image:
 * one page per channel (OME-TIFF, ImageJ, or plain pages). A file with Z or T planes is not one
 * image: the reason (a message fragment) is returned instead.
 */
export function channelIfds(layout: PlaneLayout): { ifds: number[]; names?: string[] } | string {
  const s = layout.series[0];
  if (!s) return 'has no image';
  if (s.sizeZ * s.sizeT > 1) {
    return `holds ${s.sizeC} channel(s) x ${s.sizeZ} z-slice(s) x ${s.sizeT} time point(s); name the plane of each channel with LoadData Frame_<Channel> (and Series_<Channel>) columns`;
  }
  const ifds: number[] = [];
  for (let c = 0; c < s.sizeC; c++) {
    const ifd = s.ifds[s.planeOf(c, 0, 0)];
    if (ifd === undefined) return `has no page for channel ${c} (${NO_PAGE})`;
    ifds.push(ifd);
  }
  return { ifds, ...(s.channelNames ? { names: s.channelNames } : {}) };
}
