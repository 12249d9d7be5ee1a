import sharp from 'sharp';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { DataError, isUserError } from '../util/errors.ts';
import { PHOTOMETRIC, SAMPLE_FORMAT, paletteInverse, readTiff, sampleType, type TiffFile, type TiffHeader } from './tiff.ts';
import { channelIfds, planeIfd, planeLayout, type PlaneRef } from './tiff-planes.ts';
import type { Pixels, PixelDType } from './types.ts';

/** How a user skips bad sites, in every command that reads images. */
export const SKIP_BAD_HINT = 'skip such sites with --skip-bad (ben embed, ben data info) or data.skipBad: true in a recipe (--set data.skipBad=true)';

/**
 * A decoded image file: HWC samples. 8- and 16-bit unsigned samples as stored (Uint8Array,
 * Uint16Array); float samples, signed integers and 32-bit integers as float32 with their values
 * (never rescaled or clipped to 16 bits).
 */
export interface DecodedImage {
  data: Pixels;
  width: number;
  height: number;
  channels: number;
  dtype: PixelDType;
  /** Set when decoding changed values: 32-bit integers beyond 2^24 rounded to float32. */
  note?: string;
}

/** Which part of a file to decode. */
export interface DecodeOptions {
  /**
   * One plane of a multi-page TIFF (LoadData's `Series_<Ch>` / `Frame_<Ch>`). Without it the
   * whole file is one image: a multi-page TIFF's channel pages (OME-TIFF, ImageJ, or plain
   * pages) become its channels.
   */
  plane?: PlaneRef;
}

/**
 * Largest image read, in pixels: sharp's own default limit (16383 x 16383). A header claiming
 * more is a corrupt file (or not one field of view), refused before any memory is taken.
 */
export const MAX_IMAGE_PIXELS = 0x3fff * 0x3fff;

/** The bytes of an image file; a missing or unreadable file is a DataError naming it. */
export async function readImageFile(path: string, context = ''): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DataError(
      `Image ${path}${context ? ` (${context})` : ''} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code})`}. ` +
        `Fix the path in the metadata, restore the file, or ${SKIP_BAD_HINT}.`,
    );
  }
}

/**
 * Decodes a PNG or TIFF, keeping its channel count and sample values (sharp would otherwise
 * convert grey to sRGB and 16-bit to 8-bit). TIFF as microscopes and Fiji write it: 8/16-bit
 * unsigned, 32-bit integer and float samples, either byte order, strips or tiles, classic or
 * BigTIFF, uncompressed, LZW, Deflate or PackBits; multi-page files by plane (`opts.plane`) or
 * whole (see {@link DecodeOptions}). A palette TIFF is ONE channel whose value is the palette
 * index (how instruments and Photoshop store grey microscopy images), whatever colours the
 * palette holds. Alpha channels are refused rather than silently dropped. A missing, truncated
 * or corrupt file is a UserError naming it.
 */
export async function decodeImage(path: string, context = '', opts: DecodeOptions = {}): Promise<DecodedImage> {
  return decodeImageBytes(await readImageFile(path, context), path, context, opts);
}

/** {@link decodeImage} of bytes already read from `path` (a file several channels share is read once). */
export async function decodeImageBytes(buf: Buffer, path: string, context = '', opts: DecodeOptions = {}): Promise<DecodedImage> {
  const where = context ? ` (${context})` : '';
  const tiff = readTiff(buf);
  if (!tiff) {
    if (opts.plane && (opts.plane.series !== 0 || opts.plane.frame !== 0)) {
      throw new DataError(`Image ${path}${where} is not a TIFF, so it has no plane Series ${opts.plane.series} / Frame ${opts.plane.frame}; fix the Frame_/Series_ columns, or ${SKIP_BAD_HINT}.`);
    }
    return decodeWithSharp(buf, 0, undefined, path, where);
  }
  if (!opts.plane && tiff.pages.length === 1) return decodePage(buf, tiff, 0, path, where);
  const layout = planeLayout(tiff.pages, basename(path));
  if (opts.plane) {
    const ifd = planeIfd(layout, opts.plane);
    if (typeof ifd === 'string') throw new DataError(`Image ${path}${where} ${ifd}; fix the Frame_/Series_ columns, or ${SKIP_BAD_HINT}.`);
    if (ifd >= tiff.pages.length) throw new DataError(`Image ${path}${where} has ${tiff.pages.length} page(s), but its plane Series ${opts.plane.series} / Frame ${opts.plane.frame} is page ${ifd}; the file is truncated or its metadata wrong. Re-export it, or ${SKIP_BAD_HINT}.`);
    return decodePage(buf, tiff, ifd, path, where);
  }
  const ch = channelIfds(layout);
  if (typeof ch === 'string') throw new DataError(`Image ${path}${where} ${ch}. Or ${SKIP_BAD_HINT}.`);
  const missing = ch.ifds.find((i) => i >= tiff.pages.length);
  if (missing !== undefined) throw new DataError(`Image ${path}${where} has ${tiff.pages.length} page(s) but its metadata puts a channel on page ${missing}; the file is truncated or its metadata wrong. Re-export it, or ${SKIP_BAD_HINT}.`);
  if (ch.ifds.length === 1) return decodePage(buf, tiff, ch.ifds[0], path, where);
  return stackPages(await Promise.all(ch.ifds.map((i) => decodePage(buf, tiff, i, path, where))), ch.ifds, path, where);
}

/** One-channel pages as the channels of one HWC image (every page the same size and type). */
function stackPages(pages: DecodedImage[], ifds: number[], path: string, where: string): DecodedImage {
  const first = pages[0];
  pages.forEach((p, k) => {
    if (p.channels !== 1 || p.width !== first.width || p.height !== first.height || p.dtype !== first.dtype) {
      throw new DataError(
        `Image ${path}${where}: page ${ifds[k]} is ${p.width}x${p.height}x${p.channels} ${p.dtype} but page ${ifds[0]} is ${first.width}x${first.height}x${first.channels} ${first.dtype}; ` +
          `a file read as one image needs one grey page per channel. Name each channel's page with LoadData Frame_<Channel> columns, or ${SKIP_BAD_HINT}.`,
      );
    }
  });
  const C = pages.length, n = first.width * first.height;
  const out = first.data instanceof Float32Array ? new Float32Array(n * C) : first.data instanceof Uint16Array ? new Uint16Array(n * C) : new Uint8Array(n * C);
  for (let c = 0; c < C; c++) {
    const src = pages[c].data;
    for (let p = 0, q = c; p < n; p++, q += C) out[q] = src[p];
  }
  const note = pages.map((p) => p.note).find(Boolean);
  return { data: out, width: first.width, height: first.height, channels: C, dtype: first.dtype, ...(note ? { note } : {}) };
}

/** Decodes page `ifd` of a TIFF: palette pages by index, sharp where it keeps the values, else geotiff. */
async function decodePage(buf: Buffer, tiff: TiffFile, ifd: number, path: string, where: string): Promise<DecodedImage> {
  const h = tiff.pages[ifd];
  if (h.width < 1 || h.height < 1 || h.width * h.height > MAX_IMAGE_PIXELS) {
    throw new DataError(
      `Image ${path}${where} claims ${h.width} x ${h.height} pixels${ifd ? ` on page ${ifd}` : ''}, ` +
        `${h.width < 1 || h.height < 1 ? 'an empty image' : `over the limit of ${MAX_IMAGE_PIXELS} pixels (16383 x 16383)`}: the file is corrupt, or not one field of view. ` +
        `Re-export it, or ${SKIP_BAD_HINT}.`,
    );
  }
  // A grey-ramp palette (entry i = grey i) decodes as plain grey below: sharp's grey is the index.
  if (h.photometric === PHOTOMETRIC.palette && h.colorMap && !isIdentityGreyRamp(h.colorMap)) return decodePalette(buf, ifd, h.colorMap, path, where);
  if (needsGeotiff(h)) return decodeWithGeotiff(buf, ifd, h, path, where);
  return decodeWithSharp(buf, ifd, h, path, where);
}

/**
 * Sample layouts libvips reads wrongly or not at all (measured on files written both byte orders,
 * strips and tiles): signed 16-bit (clipped at 0 on the way out), 64-bit float (refused), tiled
 * planar multi-sample pages (refused), and integer or float RGB other than float32.
 */
function needsGeotiff(h: TiffHeader): boolean {
  const bits = h.bitsPerSample[0] ?? 1;
  if (h.sampleFormat === SAMPLE_FORMAT.int && bits === 16) return true;
  if (h.sampleFormat === SAMPLE_FORMAT.float && bits !== 32) return true;
  if (h.samplesPerPixel > 1 && h.planar === 2 && h.tiled) return true;
  if (h.samplesPerPixel > 1 && bits > 16 && !(h.sampleFormat === SAMPLE_FORMAT.float && bits === 32)) return true;
  return false;
}

/** 32-bit integers above this magnitude lose their last bits in float32. */
const FLOAT32_EXACT = 2 ** 24;

/** Integer (or float64) samples as float32, with a note when a value beyond 2^24 was rounded. */
function toFloat32(a: ArrayLike<number>, integers: boolean, path: string): { data: Float32Array; note?: string } {
  const out = new Float32Array(a.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    out[i] = v;
    const m = v < 0 ? -v : v;
    if (m > max) max = m;
  }
  const note = integers && max > FLOAT32_EXACT
    ? `${path} has integer samples up to ${max}, beyond 2^24: held as float32, they are rounded to 24 significant bits (relative error below 6e-8)`
    : undefined;
  return { data: out, ...(note ? { note } : {}) };
}

/** Decodes with sharp (libvips), keeping the bit depth: `h` is the page's TIFF header (undefined for PNG). */
async function decodeWithSharp(buf: Buffer, page: number, h: TiffHeader | undefined, path: string, where: string): Promise<DecodedImage> {
  try {
    // A plain grey or RGB TIFF page is described by its header: no second parse by sharp.
    const meta = (h && headerMeta(h)) ?? (await sharp(buf, { page }).metadata());
    const channels = meta.channels ?? 0;
    if (meta.hasAlpha) {
      throw new DataError(`Image ${path}${where} has an alpha channel (${channels} channels); save it without alpha, or ${SKIP_BAD_HINT}.`);
    }
    const depth: string = meta.depth ?? 'uchar';
    const kept = depth === 'uchar' || depth === 'ushort';
    if (!kept && !['char', 'int', 'uint', 'float'].includes(depth)) {
      throw new DataError(`Image ${path}${where} has sample format ${depth}${h ? ` (${sampleType(h)})` : ''}, which ben cannot read; re-save it as 8/16-bit integer or 32-bit float, or ${SKIP_BAD_HINT}.`);
    }
    // The colour space each kind keeps its samples in (a float RGB TIFF is scRGB: linear, no conversion).
    const space = channels === 1 ? (depth === 'ushort' ? 'grey16' : 'b-w') : depth === 'ushort' ? 'rgb16' : depth === 'uchar' ? 'srgb' : meta.space;
    // failOn 'truncated' turns a short file into an error instead of a partly grey image.
    const { data, info } = await sharp(buf, { failOn: 'truncated', page })
      .toColourspace(space as never)
      .raw(depth === 'uchar' ? undefined : { depth: depth as 'ushort' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== channels) {
      throw new DataError(`Image ${path}${where} decoded to ${info.channels} channels instead of ${channels}; re-save it as grey or RGB.`);
    }
    const dims = { width: info.width, height: info.height, channels };
    if (depth === 'uchar') return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), ...dims, dtype: 'uint8' };
    if (depth === 'ushort') return { data: new Uint16Array(data.buffer, data.byteOffset, data.length / 2).slice(), ...dims, dtype: 'uint16' };
    const T = depth === 'char' ? Int8Array : depth === 'int' ? Int32Array : depth === 'uint' ? Uint32Array : Float32Array;
    const raw = new T(data.buffer.slice(data.byteOffset, data.byteOffset + data.length));
    if (raw instanceof Float32Array) return { data: raw, ...dims, dtype: 'float32' };
    return { ...toFloat32(raw, true, path), ...dims, dtype: 'float32' };
  } catch (e) {
    if (isUserError(e)) throw e;
    throw corrupt(e, path, where);
  }
}

/** sharp's description of a grey or RGB TIFF page from its header; undefined for anything else (alpha, odd depths). */
function headerMeta(h: TiffHeader): { channels: number; hasAlpha: false; depth: string; space?: string } | undefined {
  const bits = h.bitsPerSample[0];
  if (h.photometric > PHOTOMETRIC.rgb || !(h.samplesPerPixel === 1 || (h.samplesPerPixel === 3 && h.photometric === PHOTOMETRIC.rgb))) return undefined;
  const f = h.sampleFormat;
  const depth =
    f === SAMPLE_FORMAT.uint ? ({ 8: 'uchar', 16: 'ushort', 32: 'uint' } as Record<number, string>)[bits]
    : f === SAMPLE_FORMAT.int ? ({ 8: 'char', 32: 'int' } as Record<number, string>)[bits]
    : f === SAMPLE_FORMAT.float && bits === 32 ? 'float' : undefined;
  if (!depth || h.photometric === PHOTOMETRIC.whiteIsZero) return undefined;
  // Float RGB is linear (scRGB) to libvips: kept as is.
  return { channels: h.samplesPerPixel, hasAlpha: false, depth, ...(depth === 'float' && h.samplesPerPixel === 3 ? { space: 'scrgb' } : {}) };
}

/** Decodes page `ifd` with geotiff (pure JS) where libvips cannot keep the values (see {@link needsGeotiff}). */
async function decodeWithGeotiff(buf: Buffer, ifd: number, h: TiffHeader, path: string, where: string): Promise<DecodedImage> {
  try {
    const { fromArrayBuffer } = await import('geotiff');
    const file = await fromArrayBuffer(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length) as ArrayBuffer);
    const image = await file.getImage(ifd);
    const raster = (await image.readRasters({ interleave: true })) as unknown as ArrayLike<number>;
    const dims = { width: image.getWidth(), height: image.getHeight(), channels: image.getSamplesPerPixel() };
    if (raster.length !== dims.width * dims.height * dims.channels) throw new Error(`decoded ${raster.length} samples for ${dims.width}x${dims.height}x${dims.channels}`);
    // 8- and 16-bit unsigned samples keep their type, as sharp gives them.
    if (raster instanceof Uint8Array) return { data: raster, ...dims, dtype: 'uint8' };
    if (raster instanceof Uint16Array) return { data: raster, ...dims, dtype: 'uint16' };
    return { ...toFloat32(raster, h.sampleFormat !== SAMPLE_FORMAT.float, path), ...dims, dtype: 'float32' };
  } catch (e) {
    if (isUserError(e)) throw e;
    throw corrupt(e, path, where);
  }
}

function corrupt(e: unknown, path: string, where: string): DataError {
  return new DataError(
    `Image ${path}${where} is corrupt or truncated (${(e as Error).message.split('\n')[0]}). ` +
      `Re-export or re-download it, or ${SKIP_BAD_HINT}.`,
  );
}

/** Whether palette entry i renders as grey level i in every channel (the usual instrument palette). */
function isIdentityGreyRamp(cm: Uint16Array): boolean {
  const n = cm.length / 3;
  if (n !== 256) return false;
  for (let i = 0; i < n; i++) if (cm[i] >> 8 !== i || cm[n + i] >> 8 !== i || cm[2 * n + i] >> 8 !== i) return false;
  return true;
}

/** A palette TIFF as one channel of palette indices: sharp renders the colours, the map inverts them. */
async function decodePalette(buf: Buffer, page: number, colorMap: Uint16Array, path: string, where: string): Promise<DecodedImage> {
  let data: Buffer, info: { width: number; height: number };
  try {
    ({ data, info } = await sharp(buf, { failOn: 'truncated', page }).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true }));
  } catch (e) {
    throw new DataError(`Image ${path}${where} is corrupt or truncated (${(e as Error).message.split('\n')[0]}). Re-export or re-download it, or ${SKIP_BAD_HINT}.`);
  }
  const inv = paletteInverse(colorMap);
  const n = info.width * info.height;
  const out = colorMap.length / 3 > 256 ? new Uint16Array(n) : new Uint8Array(n);
  for (let p = 0; p < n; p++) {
    const q = 3 * p;
    const idx = inv.get((data[q] << 16) | (data[q + 1] << 8) | data[q + 2]);
    if (idx === undefined) {
      throw new DataError(`Image ${path}${where} is a palette TIFF whose pixel ${p} has a colour outside its palette; re-save it as a grey TIFF, or ${SKIP_BAD_HINT}.`);
    }
    out[p] = idx;
  }
  return { data: out, width: info.width, height: info.height, channels: 1, dtype: out instanceof Uint16Array ? 'uint16' : 'uint8' };
}

/** Encodes HWC 8-bit samples (1 or 3 channels) as PNG bytes. */
export async function encodePng(data: Uint8Array, width: number, height: number, channels: 1 | 3): Promise<Buffer> {
  const img = sharp(data, { raw: { width, height, channels } });
  return (channels === 1 ? img.toColourspace('b-w') : img).png({ compressionLevel: 6, adaptiveFiltering: false }).toBuffer();
}

/** Encodes a single-channel 8- or 16-bit image as TIFF (LZW) bytes. */
export async function encodeTiff(data: Uint8Array | Uint16Array, width: number, height: number): Promise<Buffer> {
  const img = sharp(data, { raw: { width, height, channels: 1 } });
  return img.toColourspace(data instanceof Uint16Array ? 'grey16' : 'b-w').tiff({ compression: 'lzw' }).toBuffer();
}
