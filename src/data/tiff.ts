/**
 * The TIFF directory fields a microscopy reader needs and sharp does not report: every page
 * (IFD) of a file with its size, sample type and layout, whether a page is a reduced-resolution
 * copy (a thumbnail), the first page's ImageDescription (where OME-TIFF keeps its OME-XML and
 * ImageJ its hyperstack dimensions), and a palette image's colour map (instrument software writes
 * grey images as palette TIFFs; the pixel value is then the palette index, not the colour it
 * maps to). Classic TIFF and BigTIFF, either byte order. The pixels themselves are decoded by
 * sharp (decode.ts).
 */

/** TIFF PhotometricInterpretation values we name. */
export const PHOTOMETRIC = { whiteIsZero: 0, blackIsZero: 1, rgb: 2, palette: 3 } as const;

/** TIFF SampleFormat values (tag 339). */
export const SAMPLE_FORMAT = { uint: 1, int: 2, float: 3 } as const;

/** Fields of one TIFF image file directory (a page). */
export interface TiffHeader {
  width: number;
  height: number;
  /** Bits per sample of each sample (one entry per sample). */
  bitsPerSample: number[];
  samplesPerPixel: number;
  /** SampleFormat of the first sample (see {@link SAMPLE_FORMAT}; default unsigned integer). */
  sampleFormat: number;
  /** Compression code (1 none, 5 LZW, 8 / 32946 Deflate, 32773 PackBits). */
  compression: number;
  /** PhotometricInterpretation (see {@link PHOTOMETRIC}). */
  photometric: number;
  /** PlanarConfiguration: 1 samples interleaved, 2 one plane per sample. */
  planar: number;
  /** Whether the pixels are stored in tiles (else strips). */
  tiled: boolean;
  /** NewSubfileType: bit 0 set on a reduced-resolution copy (thumbnail, pyramid level). */
  subfileType: number;
  /** ImageDescription (read on the first page only: OME-XML, ImageJ's `images=...` lines). */
  description?: string;
  /** ColorMap of a palette image: 3 * 2^bits 16-bit values, all reds, then greens, then blues. */
  colorMap?: Uint16Array;
}

/** A TIFF's byte order and pages. */
export interface TiffFile {
  littleEndian: boolean;
  bigTiff: boolean;
  pages: TiffHeader[];
}

const TYPE_SIZE: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8, 18: 8 };

/** More pages than any microscope writes per file; a loop or a corrupt chain stops here. */
const MAX_PAGES = 100_000;

/**
 * The pages of `buf` when it is a TIFF (classic or BigTIFF), else `undefined` (PNG, anything
 * unreadable: the caller then relies on sharp alone). A chain that runs off the file or loops
 * ends the list where it breaks; a first page that cannot be read gives `undefined`.
 */
export function readTiff(buf: Uint8Array): TiffFile | undefined {
  if (buf.length < 8) return undefined;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const order = dv.getUint16(0, false);
  if (order !== 0x4949 && order !== 0x4d4d) return undefined;
  const le = order === 0x4949;
  const version = dv.getUint16(2, le);
  if (version !== 42 && version !== 43) return undefined;
  const big = version === 43;
  if (big && (buf.length < 16 || dv.getUint16(4, le) !== 8)) return undefined;
  const offsetAt = (at: number) => (big ? Number(dv.getBigUint64(at, le)) : dv.getUint32(at, le));
  const pages: TiffHeader[] = [];
  const seen = new Set<number>();
  let ifd = offsetAt(big ? 8 : 4);
  while (ifd !== 0 && pages.length < MAX_PAGES && !seen.has(ifd)) {
    seen.add(ifd);
    const page = readIfd(dv, ifd, le, big, pages.length === 0);
    if (!page) break;
    pages.push(page.header);
    ifd = page.next;
  }
  return pages.length ? { littleEndian: le, bigTiff: big, pages } : undefined;
}

/** The first page of `buf` when it is a TIFF, else `undefined` (see {@link readTiff}). */
export function readTiffHeader(buf: Uint8Array): TiffHeader | undefined {
  return readTiff(buf)?.pages[0];
}

/** One IFD at `at` and the offset of the next (0 at the end), or undefined when it runs off the file. */
function readIfd(dv: DataView, at: number, le: boolean, big: boolean, first: boolean): { header: TiffHeader; next: number } | undefined {
  const len = dv.byteLength;
  const countSize = big ? 8 : 2, entrySize = big ? 20 : 12, inline = big ? 8 : 4;
  if (at + countSize > len) return undefined;
  const n = big ? Number(dv.getBigUint64(at, le)) : dv.getUint16(at, le);
  const end = at + countSize + n * entrySize;
  if (end + inline > len) return undefined;
  const values = new Map<number, number[]>();
  let description: string | undefined;
  for (let k = 0; k < n; k++) {
    const e = at + countSize + entrySize * k;
    const tag = dv.getUint16(e, le);
    const type = dv.getUint16(e + 2, le);
    const count = big ? Number(dv.getBigUint64(e + 4, le)) : dv.getUint32(e + 4, le);
    const size = TYPE_SIZE[type];
    // SHORT / LONG / LONG8 numbers, and the first page's description, are all we read.
    const numeric = type === 3 || type === 4 || type === 16;
    if (!size || !(numeric || (type === 2 && tag === 270 && first))) continue;
    if (numeric && tag !== 320 && count > 16) continue; // offset tables: not ours to read
    const valueAt = size * count <= inline ? e + (big ? 12 : 8) : big ? Number(dv.getBigUint64(e + 12, le)) : dv.getUint32(e + 8, le);
    if (valueAt + size * count > len) return undefined;
    if (type === 2) {
      const bytes = new Uint8Array(dv.buffer, dv.byteOffset + valueAt, count);
      const nul = bytes.indexOf(0);
      description = new TextDecoder('utf-8', { fatal: false }).decode(nul >= 0 ? bytes.subarray(0, nul) : bytes);
      continue;
    }
    const v = new Array<number>(count);
    for (let i = 0; i < count; i++) {
      v[i] = type === 3 ? dv.getUint16(valueAt + 2 * i, le) : type === 4 ? dv.getUint32(valueAt + 4 * i, le) : Number(dv.getBigUint64(valueAt + 8 * i, le));
    }
    values.set(tag, v);
  }
  const one = (tag: number, dflt: number) => values.get(tag)?.[0] ?? dflt;
  const spp = one(277, 1);
  const cm = values.get(320);
  const header: TiffHeader = {
    width: one(256, 0),
    height: one(257, 0),
    bitsPerSample: values.get(258) ?? Array.from({ length: spp }, () => 1),
    samplesPerPixel: spp,
    sampleFormat: one(339, SAMPLE_FORMAT.uint),
    compression: one(259, 1),
    photometric: one(262, PHOTOMETRIC.blackIsZero),
    planar: one(284, 1),
    tiled: values.has(322),
    subfileType: one(254, 0),
    ...(description !== undefined ? { description } : {}),
    colorMap: cm ? Uint16Array.from(cm) : undefined,
  };
  return { header, next: big ? Number(dv.getBigUint64(end, le)) : dv.getUint32(end, le) };
}

/** Sample type of a page in words (`uint16`, `float32`, `int32`...), for messages and checks. */
export function sampleType(h: TiffHeader): string {
  const kind = h.sampleFormat === SAMPLE_FORMAT.float ? 'float' : h.sampleFormat === SAMPLE_FORMAT.int ? 'int' : 'uint';
  return `${kind}${h.bitsPerSample[0] ?? 1}`;
}

/**
 * Lookup from the 8-bit colour sharp renders for each palette entry back to the entry's index:
 * `(r << 16) | (g << 8) | b` -> index (r, g, b = the map's 16-bit values >> 8, how libvips
 * renders a palette). Entries that render alike (unused entries are often all black) map to
 * the lowest of their indices.
 */
export function paletteInverse(colorMap: Uint16Array): Map<number, number> {
  const n = colorMap.length / 3;
  const inv = new Map<number, number>();
  for (let i = n - 1; i >= 0; i--) {
    inv.set(((colorMap[i] >> 8) << 16) | ((colorMap[n + i] >> 8) << 8) | (colorMap[2 * n + i] >> 8), i);
  }
  return inv;
}
