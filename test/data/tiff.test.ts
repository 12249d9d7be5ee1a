import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromArrayBuffer } from 'geotiff';
import { decodeImage } from '../../src/data/decode.ts';
import { PHOTOMETRIC, readTiffHeader } from '../../src/data/tiff.ts';

const tmp = mkdtempSync(join(tmpdir(), 'ben-tiff-'));
const REAL = '../shared/data/real/images';

/** Pixels of the first image of a TIFF as geotiff (an independent decoder) reads them: palette images give indices. */
async function geotiffPixels(path: string): Promise<number[]> {
  const b = readFileSync(path);
  const img = await (await fromArrayBuffer(b.buffer.slice(b.byteOffset, b.byteOffset + b.length))).getImage();
  return Array.from((await img.readRasters({ interleave: true })) as unknown as ArrayLike<number>);
}

/**
 * An uncompressed 8-bit palette TIFF written by hand (little-endian, one strip): the layout
 * instrument software writes, with a colour map that is NOT a grey ramp, so a decoder that
 * returns the rendered colour instead of the index is caught.
 */
function paletteTiff(width: number, height: number, indices: Uint8Array, colorMap: Uint16Array): Buffer {
  const tags: [number, number, number, number[] | number][] = [
    [256, 3, 1, width], [257, 3, 1, height], [258, 3, 1, 8], [259, 3, 1, 1], [262, 3, 1, PHOTOMETRIC.palette],
    [273, 4, 1, 0], [277, 3, 1, 1], [278, 3, 1, height], [279, 4, 1, indices.length], [320, 3, colorMap.length, Array.from(colorMap)],
  ];
  const ifdAt = 8;
  const ifdSize = 2 + tags.length * 12 + 4;
  const cmAt = ifdAt + ifdSize;
  const pixAt = cmAt + colorMap.length * 2;
  const buf = Buffer.alloc(pixAt + indices.length);
  buf.write('II', 0, 'latin1');
  buf.writeUInt16LE(42, 2);
  buf.writeUInt32LE(ifdAt, 4);
  buf.writeUInt16LE(tags.length, ifdAt);
  tags.forEach(([tag, type, count, value], k) => {
    const e = ifdAt + 2 + 12 * k;
    buf.writeUInt16LE(tag, e);
    buf.writeUInt16LE(type, e + 2);
    buf.writeUInt32LE(count, e + 4);
    if (tag === 320) buf.writeUInt32LE(cmAt, e + 8);
    else if (tag === 273) buf.writeUInt32LE(pixAt, e + 8);
    else if (type === 3) buf.writeUInt16LE(value as number, e + 8);
    else buf.writeUInt32LE(value as number, e + 8);
  });
  colorMap.forEach((v, i) => buf.writeUInt16LE(v, cmAt + 2 * i));
  Buffer.from(indices).copy(buf, pixAt);
  return buf;
}

describe('TIFF as instruments write it', () => {
  it('a palette TIFF is one channel of palette indices, whatever the colours (checked against geotiff)', async () => {
    const w = 7, h = 5;
    const idx = Uint8Array.from({ length: w * h }, (_, i) => (i * 37 + 3) % 256);
    // Reds run down the ramp, greens and blues are scrambled: no channel equals the index.
    const cm = new Uint16Array(768);
    for (let i = 0; i < 256; i++) {
      cm[i] = (255 - i) * 257;
      cm[256 + i] = ((i * 7) % 256) * 257;
      cm[512 + i] = ((i * 13) % 256) * 257;
    }
    const f = join(tmp, 'palette.tif');
    writeFileSync(f, paletteTiff(w, h, idx, cm));
    expect(readTiffHeader(readFileSync(f))).toMatchObject({ width: w, height: h, photometric: PHOTOMETRIC.palette, bitsPerSample: [8] });
    const d = await decodeImage(f);
    expect([d.width, d.height, d.channels, d.dtype]).toEqual([w, h, 1, 'uint8']);
    expect(Array.from(d.data)).toEqual(Array.from(idx));
    expect(await geotiffPixels(f)).toEqual(Array.from(idx));
  });

  it('16-bit grey with Deflate and LZW, 8-bit grey uncompressed: the same samples as geotiff', async () => {
    const w = 33, h = 17;
    const g16 = Uint16Array.from({ length: w * h }, (_, i) => (i * 977 + 11) % 65536);
    const g8 = Uint8Array.from({ length: w * h }, (_, i) => (i * 31) % 256);
    const cases: [string, Buffer, ArrayLike<number>, string, number][] = [
      ['d16.tif', await sharp(g16, { raw: { width: w, height: h, channels: 1 } }).toColourspace('grey16').tiff({ compression: 'deflate' }).toBuffer(), g16, 'uint16', 8],
      ['l16.tif', await sharp(g16, { raw: { width: w, height: h, channels: 1 } }).toColourspace('grey16').tiff({ compression: 'lzw' }).toBuffer(), g16, 'uint16', 5],
      ['n8.tif', await sharp(g8, { raw: { width: w, height: h, channels: 1 } }).toColourspace('b-w').tiff({ compression: 'none' }).toBuffer(), g8, 'uint8', 1],
    ];
    for (const [name, bytes, want, dtype, compression] of cases) {
      const f = join(tmp, name);
      writeFileSync(f, bytes);
      expect(readTiffHeader(bytes)?.compression, name).toBe(compression);
      const d = await decodeImage(f);
      expect([d.channels, d.dtype], name).toEqual([1, dtype]);
      expect(Array.from(d.data), name).toEqual(Array.from(want));
      expect(await geotiffPixels(f), name).toEqual(Array.from(want));
    }
  });

  it.skipIf(!existsSync(REAL))('the real files: BBBC013 palette TIFFs and JUMP Deflate 16-bit TIFFs decode as geotiff reads them', async () => {
    const files = [
      [`${REAL}/bbbc013/Channel1-01-A-01.tif`, PHOTOMETRIC.palette, 1, 'uint8'],
      [`${REAL}/bbbc013/Channel2-96-H-12.tif`, PHOTOMETRIC.palette, 1, 'uint8'],
      [`${REAL}/jump-rab30/images/BR00123947_G01_s1_DNA.tiff`, PHOTOMETRIC.blackIsZero, 8, 'uint16'],
      [`${REAL}/jump-rab30/images/CP-CC9-R1-05_L07_s0_Mito.tiff`, PHOTOMETRIC.blackIsZero, 8, 'uint16'],
    ] as const;
    for (const [f, photometric, compression, dtype] of files) {
      const hdr = readTiffHeader(readFileSync(f))!;
      expect([hdr.photometric, hdr.compression], f).toEqual([photometric, compression]);
      const d = await decodeImage(f);
      expect([d.channels, d.dtype], f).toEqual([1, dtype]);
      const ref = await geotiffPixels(f);
      expect(ref.length, f).toBe(d.data.length);
      let diff = 0;
      for (let i = 0; i < ref.length; i++) diff += Math.abs(ref[i] - d.data[i]);
      expect(diff, f).toBe(0);
    }
  });
});
