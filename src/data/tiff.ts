/**
 * The few TIFF header fields sharp does not report but a microscopy reader needs: whether the
 * first image is a palette image and its colour map (instrument software writes grey images as
 * palette TIFFs; the pixel value is then the palette index, not the colour it maps to), and the
 * bit depth and compression for error messages. Reads the first IFD of a classic TIFF only; the
 * pixels themselves are decoded by sharp.
 */

/** TIFF PhotometricInterpretation values we name. */
export const PHOTOMETRIC = { whiteIsZero: 0, blackIsZero: 1, rgb: 2, palette: 3 } as const;

/** Fields of a TIFF's first image file directory. */
export interface TiffHeader {
  width: number;
  height: number;
  /** Bits per sample of each sample (one entry per sample). */
  bitsPerSample: number[];
  samplesPerPixel: number;
  /** Compression code (1 none, 5 LZW, 8 / 32946 Deflate, 32773 PackBits). */
  compression: number;
  /** PhotometricInterpretation (see {@link PHOTOMETRIC}). */
  photometric: number;
  /** ColorMap of a palette image: 3 * 2^bits 16-bit values, all reds, then greens, then blues. */
  colorMap?: Uint16Array;
}

const TYPE_SIZE: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8 };

/**
 * The first IFD of `buf` when it is a classic (not Big) TIFF, else `undefined` (PNG, BigTIFF,
 * anything unreadable: the caller then relies on sharp alone).
 */
export function readTiffHeader(buf: Uint8Array): TiffHeader | undefined {
  if (buf.length < 8) return undefined;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const order = dv.getUint16(0, false);
  if (order !== 0x4949 && order !== 0x4d4d) return undefined;
  const le = order === 0x4949;
  if (dv.getUint16(2, le) !== 42) return undefined;
  const ifd = dv.getUint32(4, le);
  if (ifd + 2 > buf.length) return undefined;
  const n = dv.getUint16(ifd, le);
  const values = new Map<number, number[]>();
  for (let k = 0; k < n; k++) {
    const e = ifd + 2 + 12 * k;
    if (e + 12 > buf.length) return undefined;
    const tag = dv.getUint16(e, le);
    const type = dv.getUint16(e + 2, le);
    const count = dv.getUint32(e + 4, le);
    const size = TYPE_SIZE[type];
    if (type !== 3 && type !== 4) continue; // SHORT / LONG fields are all we read
    const at = size * count <= 4 ? e + 8 : dv.getUint32(e + 8, le);
    if (at + size * count > buf.length) return undefined;
    const v = new Array<number>(count);
    for (let i = 0; i < count; i++) v[i] = type === 3 ? dv.getUint16(at + 2 * i, le) : dv.getUint32(at + 4 * i, le);
    values.set(tag, v);
  }
  const one = (tag: number, dflt: number) => values.get(tag)?.[0] ?? dflt;
  const spp = one(277, 1);
  const cm = values.get(320);
  return {
    width: one(256, 0),
    height: one(257, 0),
    bitsPerSample: values.get(258) ?? Array.from({ length: spp }, () => 1),
    samplesPerPixel: spp,
    compression: one(259, 1),
    photometric: one(262, PHOTOMETRIC.blackIsZero),
    colorMap: cm ? Uint16Array.from(cm) : undefined,
  };
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
