import sharp from 'sharp';
import { readFile } from 'node:fs/promises';
import { DataError, isUserError } from '../util/errors.ts';
import { PHOTOMETRIC, paletteInverse, readTiffHeader } from './tiff.ts';
import type { Pixels, PixelDType } from './types.ts';

/** How a user skips bad sites, in every command that reads images. */
export const SKIP_BAD_HINT = 'skip such sites with --skip-bad (ben embed, ben data info) or data.skipBad: true in a recipe (--set data.skipBad=true)';

/** A decoded image file: HWC samples as stored (8-bit -> Uint8Array, 16-bit -> Uint16Array, float -> Float32Array). */
export interface DecodedImage {
  data: Pixels;
  width: number;
  height: number;
  channels: number;
  dtype: PixelDType;
}

/**
 * Decodes a PNG or TIFF (8- or 16-bit, grey or RGB; TIFF uncompressed, LZW, Deflate or PackBits)
 * with sharp, keeping its channel count and bit depth (sharp would otherwise convert grey to sRGB
 * and 16-bit to 8-bit). A palette TIFF is ONE channel whose value is the palette index (how
 * instruments and Photoshop store grey microscopy images), whatever colours the palette holds.
 * Alpha channels are refused rather than silently dropped. A missing, truncated or corrupt file
 * is a UserError naming it.
 */
export async function decodeImage(path: string, context = ''): Promise<DecodedImage> {
  const where = context ? ` (${context})` : '';
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DataError(
      `Image ${path}${where} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code})`}. ` +
        `Fix the path in the metadata, restore the file, or ${SKIP_BAD_HINT}.`,
    );
  }
  const tiff = readTiffHeader(buf);
  // A grey-ramp palette (entry i = grey i) decodes as plain grey below: sharp's grey is the index.
  if (tiff?.photometric === PHOTOMETRIC.palette && tiff.colorMap && !isIdentityGreyRamp(tiff.colorMap)) return decodePalette(buf, tiff.colorMap, path, where);
  try {
    const meta = await sharp(buf).metadata();
    const channels = meta.channels ?? 0;
    if (meta.hasAlpha) {
      throw new DataError(`Image ${path}${where} has an alpha channel (${channels} channels); save it without alpha, or ${SKIP_BAD_HINT}.`);
    }
    const is16 = meta.depth === 'ushort' || meta.depth === 'short';
    if (!is16 && meta.depth !== 'uchar' && meta.depth !== 'char') {
      throw new DataError(`Image ${path}${where} has sample format ${meta.depth}; only 8- and 16-bit integer images are supported.`);
    }
    const space = channels === 1 ? (is16 ? 'grey16' : 'b-w') : is16 ? 'rgb16' : 'srgb';
    // failOn 'truncated' turns a short file into an error instead of a partly grey image.
    const { data, info } = await sharp(buf, { failOn: 'truncated' })
      .toColourspace(space)
      .raw(is16 ? { depth: 'ushort' } : undefined)
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== channels) {
      throw new DataError(`Image ${path}${where} decoded to ${info.channels} channels instead of ${channels}; re-save it as grey or RGB.`);
    }
    const pixels = is16
      ? new Uint16Array(data.buffer, data.byteOffset, data.length / 2).slice()
      : new Uint8Array(data.buffer, data.byteOffset, data.length);
    return { data: pixels, width: info.width, height: info.height, channels, dtype: is16 ? 'uint16' : 'uint8' };
  } catch (e) {
    if (isUserError(e)) throw e;
    throw new DataError(
      `Image ${path}${where} is corrupt or truncated (${(e as Error).message.split('\n')[0]}). ` +
        `Re-export or re-download it, or ${SKIP_BAD_HINT}.`,
    );
  }
}

/** Whether palette entry i renders as grey level i in every channel (the usual instrument palette). */
function isIdentityGreyRamp(cm: Uint16Array): boolean {
  const n = cm.length / 3;
  if (n !== 256) return false;
  for (let i = 0; i < n; i++) if (cm[i] >> 8 !== i || cm[n + i] >> 8 !== i || cm[2 * n + i] >> 8 !== i) return false;
  return true;
}

/** A palette TIFF as one channel of palette indices: sharp renders the colours, the map inverts them. */
async function decodePalette(buf: Buffer, colorMap: Uint16Array, path: string, where: string): Promise<DecodedImage> {
  let data: Buffer, info: { width: number; height: number };
  try {
    ({ data, info } = await sharp(buf, { failOn: 'truncated' }).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true }));
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
