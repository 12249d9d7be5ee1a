/**
 * TIFF as microscopes and Fiji write it: float32 and 32-bit integer samples, both byte orders,
 * strips and tiles, classic and BigTIFF, multi-page files read whole (pages as channels: plain,
 * OME-TIFF, ImageJ hyperstacks) or by plane (Series / Frame). Files come from three writers (the
 * hand-written fixture writer, libvips through sharp (it writes no float TIFF from raw floats:
 * its pipeline casts them), and Pillow/numpy where python3 has them)
 * and every decoded value is checked against the written array and against geotiff, a second
 * decoder.
 */
import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromArrayBuffer } from 'geotiff';
import { MAX_IMAGE_PIXELS, decodeImage } from '../../src/data/decode.ts';
import { readTiff } from '../../src/data/tiff.ts';
import { isUserError } from '../../src/util/errors.ts';
import { omeXml, writeTiff, type FixturePage, type Samples } from './tiff-writer.ts';

const tmp = mkdtempSync(join(tmpdir(), 'ben-tiff-flavours-'));
const W = 37, H = 29; // not multiples of the 16-pixel tiles: edge tiles are padded

/** Page `ifd` of a TIFF as geotiff reads it (interleaved samples). */
async function geotiffPage(path: string, ifd = 0): Promise<number[]> {
  const b = readFileSync(path);
  const img = await (await fromArrayBuffer(b.buffer.slice(b.byteOffset, b.byteOffset + b.length))).getImage(ifd);
  return Array.from((await img.readRasters({ interleave: true })) as unknown as ArrayLike<number>);
}

function fill<T extends Samples>(T: new (n: number) => T, n: number, f: (i: number) => number): T {
  const a = new T(n);
  for (let i = 0; i < n; i++) a[i] = f(i);
  return a;
}

/** What the decoder must return for written samples: float32 holds them (rounded to float32 for float64). */
const asFloat32 = (a: ArrayLike<number>) => Array.from(Float32Array.from(a));

function save(name: string, bytes: Buffer): string {
  const f = join(tmp, name);
  writeFileSync(f, bytes);
  return f;
}

describe('TIFF samples: bit depth, sign, float, byte order, strips and tiles', () => {
  const grey: [string, Samples, string][] = [
    ['uint8', fill(Uint8Array, W * H, (i) => (i * 31) % 256), 'uint8'],
    ['uint16', fill(Uint16Array, W * H, (i) => (i * 977 + 11) % 65536), 'uint16'],
    // Values far outside 0..65535, negative and fractional: kept as they are, never clipped.
    ['float32', fill(Float32Array, W * H, (i) => (i - 300) * 1370.5 + 0.125), 'float32'],
    ['int32', fill(Int32Array, W * H, (i) => (i - 500) * 9001), 'float32'],
    ['uint32', fill(Uint32Array, W * H, (i) => i * 12345), 'float32'],
    ['int16', fill(Int16Array, W * H, (i) => (i - 500) * 37), 'float32'],
    ['float64', fill(Float64Array, W * H, (i) => (i - 300) * 1e-3 + 1 / 3), 'float32'],
  ];
  for (const [kind, data, dtype] of grey) {
    it(`${kind}: little- and big-endian, strips and tiles, classic and BigTIFF, raw and Deflate`, async () => {
      const want = dtype === 'float32' ? asFloat32(data) : Array.from(data);
      for (const bigEndian of [false, true]) {
        for (const tile of [undefined, [16, 16] as [number, number]]) {
          const bigTiff = bigEndian === !!tile; // both container kinds, each with both byte orders
          const f = save(`${kind}-${bigEndian}-${!!tile}.tif`, writeTiff([{ width: W, height: H, data, tile, deflate: !tile }], { bigEndian, bigTiff }));
          const label = `${kind} ${bigEndian ? 'BE' : 'LE'} ${tile ? 'tiled' : 'strips'} ${bigTiff ? 'BigTIFF' : 'classic'}`;
          const d = await decodeImage(f);
          expect([d.width, d.height, d.channels, d.dtype], label).toEqual([W, H, 1, dtype]);
          expect(Array.from(d.data), label).toEqual(want);
          // The second decoder reads the same samples (as written: float64 unrounded).
          expect(asFloat32(await geotiffPage(f)), label).toEqual(asFloat32(data));
        }
      }
    });
  }

  it('RGB pages: 16-bit chunky and planar (strips and tiles), float32 RGB; checked against geotiff', async () => {
    const rgb16 = fill(Uint16Array, W * H * 3, (i) => (i * 331) % 65536);
    const rgbf = fill(Float32Array, W * H * 3, (i) => i * 0.25 - 100);
    const cases: [string, FixturePage, string][] = [
      ['rgb16 chunky', { width: W, height: H, samples: 3, data: rgb16 }, 'uint16'],
      ['rgb16 planar strips', { width: W, height: H, samples: 3, data: rgb16, planar: true }, 'uint16'],
      ['rgb16 planar tiles', { width: W, height: H, samples: 3, data: rgb16, planar: true, tile: [16, 16] }, 'uint16'],
      ['float32 rgb tiles', { width: W, height: H, samples: 3, data: rgbf, tile: [16, 16] }, 'float32'],
    ];
    for (const [label, page, dtype] of cases) {
      const f = save(`${label.replaceAll(' ', '-')}.tif`, writeTiff([page], { bigEndian: true }));
      const d = await decodeImage(f);
      expect([d.channels, d.dtype], label).toEqual([3, dtype]);
      expect(Array.from(d.data), label).toEqual(Array.from(page.data));
      expect(await geotiffPage(f), label).toEqual(Array.from(page.data));
    }
  });

  it('libvips-written 16-bit: tiled, Deflate with the horizontal predictor', async () => {
    const data = fill(Uint16Array, W * H, (i) => (i * 613) % 65536);
    const f = save('vips-tiled16.tif', await sharp(data, { raw: { width: W, height: H, channels: 1 } }).toColourspace('grey16').tiff({ tile: true, tileWidth: 16, tileHeight: 16, compression: 'deflate', predictor: 'horizontal' }).toBuffer());
    const hdr = readTiff(readFileSync(f))!.pages[0];
    expect([hdr.tiled, hdr.compression, hdr.bitsPerSample[0]]).toEqual([true, 8, 16]);
    const d = await decodeImage(f);
    expect(d.dtype).toBe('uint16');
    expect(Array.from(d.data)).toEqual(Array.from(data));
    expect(await geotiffPage(f)).toEqual(Array.from(data));
  });

  it('32-bit integers beyond 2^24 are rounded to float32 with a note', async () => {
    const data = fill(Uint32Array, W * H, (i) => 2 ** 31 + i * 77);
    const d = await decodeImage(save('u32-big.tif', writeTiff([{ width: W, height: H, data }])));
    expect(Array.from(d.data)).toEqual(asFloat32(data));
    expect(d.note).toMatch(/beyond 2\^24.*rounded/);
    const small = await decodeImage(save('i32-small.tif', writeTiff([{ width: W, height: H, data: fill(Int32Array, W * H, (i) => i - 2 ** 23) }])));
    expect(small.note).toBeUndefined();
  });
});

describe('multi-page TIFF: a file read whole (pages as channels) or by plane', () => {
  const planes = [0, 1, 2, 3].map((k) => fill(Float32Array, W * H, (i) => (i + 1) * (k + 1) * 0.5 - k * 1000));
  const hwc = (chs: ArrayLike<number>[]) => {
    const out: number[] = [];
    for (let p = 0; p < W * H; p++) for (const c of chs) out.push(c[p]);
    return out;
  };

  it('plain pages: every full-resolution page is a channel; a thumbnail page is skipped', async () => {
    const thumb = { width: 8, height: 6, data: new Uint8Array(48), subfileType: 1 };
    const f = save('plain.tif', writeTiff([...planes.slice(0, 3).map((data) => ({ width: W, height: H, data })), thumb], { bigEndian: true }));
    const d = await decodeImage(f);
    expect([d.channels, d.dtype]).toEqual([3, 'float32']);
    expect(Array.from(d.data)).toEqual(hwc(planes.slice(0, 3)));
    for (let k = 0; k < 3; k++) {
      const p = await decodeImage(f, '', { plane: { series: 0, frame: k } });
      expect(p.channels).toBe(1);
      expect(Array.from(p.data)).toEqual(await geotiffPage(f, k));
      expect(Array.from(p.data)).toEqual(Array.from(planes[k]));
    }
    await expect(decodeImage(f, 'site A01', { plane: { series: 0, frame: 3 } })).rejects.toThrow(/plain\.tif \(site A01\) has 3 plane\(s\).*Frame 3 does not exist/);
  });

  it('OME-TIFF: channels by the OME-XML (TiffData IFDs in any order), Z planes by Frame in DimensionOrder', async () => {
    // Four channels stored in reverse page order, as TiffData says.
    const tiffData = [3, 2, 1, 0].map((ifd, c) => `<TiffData FirstC="${c}" IFD="${ifd}" PlaneCount="1"/>`).join('');
    const desc = omeXml({ width: W, height: H, sizeC: 4, type: 'float', channelNames: ['DNA', 'ER', 'RNA', 'Mito'], tiffData });
    const pages = [3, 2, 1, 0].map((k, i) => ({ width: W, height: H, data: planes[k], ...(i === 0 ? { description: desc } : {}) }));
    const f = save('ome4.ome.tif', writeTiff(pages, { bigTiff: true }));
    const d = await decodeImage(f);
    expect(d.channels).toBe(4);
    expect(Array.from(d.data)).toEqual(hwc(planes));
    const er = await decodeImage(f, '', { plane: { series: 0, frame: 1 } });
    expect(Array.from(er.data)).toEqual(Array.from(planes[1]));

    // 2 channels x 2 z-slices, XYZCT: plane p = z + 2 c, one IFD per plane in that order.
    const z = omeXml({ width: W, height: H, sizeC: 2, sizeZ: 2, type: 'float', order: 'XYZCT' });
    const fz = save('omez.ome.tif', writeTiff(planes.map((data, i) => ({ width: W, height: H, data, ...(i === 0 ? { description: z } : {}) }))));
    await expect(decodeImage(fz, 'site B02')).rejects.toThrow(/omez\.ome\.tif \(site B02\) holds 2 channel\(s\) x 2 z-slice\(s\).*Frame_<Channel>/);
    for (let p = 0; p < 4; p++) expect(Array.from((await decodeImage(fz, '', { plane: { series: 0, frame: p } })).data)).toEqual(Array.from(planes[p]));
  });

  it('OME-TIFF with two series: Series picks the image, its planes follow the first series', async () => {
    const xml =
      '<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06">' +
      [0, 1].map((s) => `<Image ID="Image:${s}"><Pixels DimensionOrder="XYCZT" Type="float" SizeX="${W}" SizeY="${H}" SizeC="2" SizeZ="1" SizeT="1"><Channel/><Channel/><TiffData IFD="${2 * s}" PlaneCount="2"/></Pixels></Image>`).join('') +
      '</OME>';
    const f = save('ome-series.ome.tif', writeTiff(planes.map((data, i) => ({ width: W, height: H, data, ...(i === 0 ? { description: xml } : {}) }))));
    expect(Array.from((await decodeImage(f, '', { plane: { series: 1, frame: 0 } })).data)).toEqual(Array.from(planes[2]));
    expect(Array.from((await decodeImage(f, '', { plane: { series: 1, frame: 1 } })).data)).toEqual(Array.from(planes[3]));
    await expect(decodeImage(f, '', { plane: { series: 2, frame: 0 } })).rejects.toThrow(/has 2 series \(OME-TIFF\), so Series 2 does not exist/);
  });

  it('an ImageJ hyperstack as Fiji saves it (big-endian, uncompressed, float32): channels, or planes in C-Z-T order', async () => {
    const desc = 'ImageJ=1.54f\nimages=4\nchannels=2\nslices=2\nhyperstack=true\nmode=grayscale\n';
    const f = save('fiji.tif', writeTiff(planes.map((data, i) => ({ width: W, height: H, data, rowsPerStrip: H, ...(i === 0 ? { description: desc } : {}) })), { bigEndian: true }));
    await expect(decodeImage(f)).rejects.toThrow(/holds 2 channel\(s\) x 2 z-slice\(s\)/);
    // Frame 3 = channel 1 of slice 1 (channels vary fastest).
    expect(Array.from((await decodeImage(f, '', { plane: { series: 0, frame: 3 } })).data)).toEqual(Array.from(planes[3]));
    const two = save('fiji2.tif', writeTiff(planes.slice(0, 2).map((data, i) => ({ width: W, height: H, data, ...(i === 0 ? { description: 'ImageJ=1.54f\nimages=2\nchannels=2\n' } : {}) })), { bigEndian: true }));
    expect(Array.from((await decodeImage(two)).data)).toEqual(hwc(planes.slice(0, 2)));
  });
});

describe('a file claiming absurd dimensions', () => {
  it('is a clean error naming the file and the claim, on both decoding paths', async () => {
    for (const [name, data] of [['huge16.tif', new Uint16Array(16)], ['huge64.tif', new Float64Array(16)]] as const) {
      // A real 4 x 4 page whose header then claims 100000 x 100000 pixels.
      const bytes = writeTiff([{ width: 4, height: 4, data }]);
      const tiff = readTiff(bytes)!;
      expect(tiff.pages[0].width).toBe(4);
      const patched = Buffer.from(bytes);
      const ifd = patched.readUInt32LE(4);
      for (let k = 0; k < patched.readUInt16LE(ifd); k++) {
        const e = ifd + 2 + 12 * k;
        const tag = patched.readUInt16LE(e);
        if (tag === 256 || tag === 257) patched.writeUInt32LE(100_000, e + 8);
      }
      const f = save(name, patched);
      const err = await decodeImage(f, 'site C03').then(() => undefined, (e: unknown) => e);
      expect(isUserError(err), name).toBe(true);
      expect((err as Error).message).toMatch(new RegExp(`${name} \\(site C03\\) claims 100000 x 100000 pixels, over the limit of ${MAX_IMAGE_PIXELS} pixels.*--skip-bad`));
    }
  });
});

/** A python3 with numpy and Pillow, when this machine has one (the test of that writer is skipped otherwise). */
const python = ['python3', '/usr/bin/python3'].find((p) => spawnSync(p, ['-c', 'import numpy, PIL'], { encoding: 'utf8' }).status === 0);

describe.skipIf(!python)('files written by Pillow, values computed by numpy', () => {
  it('float32 multi-page, big-endian 16-bit, 32-bit integer: the same samples numpy wrote', async () => {
    const script = `
import numpy as np, sys
from PIL import Image
d = sys.argv[1]
y, x = np.mgrid[0:${H}, 0:${W}]
f = [((x * 13.25 - y * 7.5) * (k + 1) - 5000).astype(np.float32) for k in range(3)]
Image.fromarray(f[0], 'F').save(d + '/pil-f32.tif', save_all=True, append_images=[Image.fromarray(a, 'F') for a in f[1:]])
np.stack(f, -1).astype('<f4').tofile(d + '/pil-f32.bin')
u = ((x * 1777 + y * 313) % 65536).astype('>u2')
Image.frombytes('I;16B', (${W}, ${H}), u.tobytes()).save(d + '/pil-u16be.tif')
u.astype('<u2').tofile(d + '/pil-u16be.bin')
i = ((x - 20) * 100003 + y * 7).astype(np.int32)
Image.fromarray(i, 'I').save(d + '/pil-i32.tif')
i.astype('<f4').tofile(d + '/pil-i32.bin')
`;
    const r = spawnSync(python!, ['-c', script, tmp], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const bin = (n: string, T: typeof Float32Array | typeof Uint16Array) => {
      const b = readFileSync(join(tmp, n));
      return Array.from(new T(b.buffer.slice(b.byteOffset, b.byteOffset + b.length)));
    };
    const f32 = await decodeImage(join(tmp, 'pil-f32.tif'));
    expect([f32.channels, f32.dtype]).toEqual([3, 'float32']);
    expect(Array.from(f32.data)).toEqual(bin('pil-f32.bin', Float32Array));
    expect(readTiff(readFileSync(join(tmp, 'pil-u16be.tif')))!.littleEndian).toBe(false);
    const u16 = await decodeImage(join(tmp, 'pil-u16be.tif'));
    expect(u16.dtype).toBe('uint16');
    expect(Array.from(u16.data)).toEqual(bin('pil-u16be.bin', Uint16Array));
    expect(Array.from((await decodeImage(join(tmp, 'pil-i32.tif'))).data)).toEqual(bin('pil-i32.bin', Float32Array));
  });
});

describe('LoadData Frame_ / Series_ columns on generated OME-TIFFs', () => {
  it('each channel reads its plane (series and frame from 0); a bad plane number is an error naming the cell', async () => {
    const { readDataset } = await import('../../src/data/readers/index.ts');
    const dir = join(tmp, 'loaddata-series');
    mkdirSync(dir);
    // Two series (images) of two channels each, one page per plane: series s, channel c on page 2 s + c.
    const xml =
      '<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06">' +
      [0, 1].map((s) => `<Image ID="Image:${s}"><Pixels DimensionOrder="XYCZT" Type="uint16" SizeX="${W}" SizeY="${H}" SizeC="2" SizeZ="1" SizeT="1"><Channel/><Channel/></Pixels></Image>`).join('') +
      '</OME>';
    const planesOf = (well: number) => [0, 1, 2, 3].map((k) => fill(Uint16Array, W * H, (i) => (i * (k + 3) + well * 1000) % 65536));
    const lines = ['Metadata_Plate,Metadata_Well,FileName_DNA,Frame_DNA,Series_DNA,FileName_Mito,Frame_Mito,Series_Mito'];
    for (const well of [1, 2]) {
      const f = `w${well}.ome.tif`;
      writeFileSync(join(dir, f), writeTiff(planesOf(well).map((data, i) => ({ width: W, height: H, data, ...(i === 0 ? { description: xml } : {}) }))));
      // DNA: series 1, channel 0 (page 2); Mito: series 0, channel 1 (page 1).
      lines.push(`P1,A0${well},${f},0,1,${f},1,0`);
    }
    writeFileSync(join(dir, 'load_data.csv'), lines.join('\n') + '\n');
    const ds = await readDataset(join(dir, 'load_data.csv'), { channels: ['DNA', 'Mito'] });
    expect([ds.size, ds.images.channels, ds.dtype]).toEqual([2, 2, 'uint16']);
    expect(ds.rows[0].planes).toEqual([{ series: 1, frame: 0 }, { series: 0, frame: 1 }]);
    for (const [i, well] of [[0, 1], [1, 2]]) {
      const p = planesOf(well);
      const px = ds.images.getSync(i);
      expect(Array.from({ length: W * H }, (_, q) => px[2 * q])).toEqual(Array.from(p[2]));
      expect(Array.from({ length: W * H }, (_, q) => px[2 * q + 1])).toEqual(Array.from(p[1]));
    }
    writeFileSync(join(dir, 'load_data.csv'), lines.map((l, k) => (k === 1 ? l.replace(',0,1,', ',x,1,') : l)).join('\n') + '\n');
    await expect(readDataset(join(dir, 'load_data.csv'), { channels: ['DNA', 'Mito'] })).rejects.toThrow(/line 2: Frame_DNA "x" is not a plane number/);
    writeFileSync(join(dir, 'load_data.csv'), lines.map((l, k) => (k === 1 ? l.replace(',0,1,', ',5,1,') : l)).join('\n') + '\n');
    await expect(readDataset(join(dir, 'load_data.csv'), { channels: ['DNA', 'Mito'] })).rejects.toThrow(/w1\.ome\.tif \(site P1_A01_1.*has 2 plane\(s\) in series 1 \(OME-TIFF\), so Frame 5 does not exist.*Frame_\/Series_/);
  });
});
