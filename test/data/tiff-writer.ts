/**
 * A small TIFF writer for test fixtures, written from the TIFF 6.0 and BigTIFF specifications and
 * independent of libvips: every flavour the decoder must read (byte order, classic or BigTIFF,
 * strips or tiles, chunky or planar samples, 8- to 64-bit unsigned / signed / float samples,
 * uncompressed or Deflate, several pages, an ImageDescription such as OME-XML or ImageJ's).
 */
import { deflateSync } from 'node:zlib';

/** Sample arrays a page may hold (interleaved HWC for chunky pages, as given for planar ones). */
export type Samples = Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array;

/** One page (IFD) of a fixture. */
export interface FixturePage {
  width: number;
  height: number;
  /** Samples per pixel (default 1). */
  samples?: number;
  /** HWC interleaved samples; the array type gives the bit depth and the SampleFormat. */
  data: Samples;
  /** Tile size [width, height] (multiples of 16); default: strips. */
  tile?: [number, number];
  /** Rows per strip (default 3, so several strips are written). */
  rowsPerStrip?: number;
  /** PlanarConfiguration 2: each sample in its own plane. */
  planar?: boolean;
  /** Deflate-compress each strip / tile (Compression 8). */
  deflate?: boolean;
  description?: string;
  /** NewSubfileType (1 = reduced-resolution copy, a thumbnail). */
  subfileType?: number;
  /** PhotometricInterpretation (default BlackIsZero, RGB for 3 samples). */
  photometric?: number;
}

/** Options of {@link writeTiff}. */
export interface TiffWriteOptions {
  bigEndian?: boolean;
  bigTiff?: boolean;
}

const FORMAT: [new (n: number) => Samples, number, number][] = [
  [Uint8Array, 1, 8], [Int8Array, 2, 8], [Uint16Array, 1, 16], [Int16Array, 2, 16],
  [Uint32Array, 1, 32], [Int32Array, 2, 32], [Float32Array, 3, 32], [Float64Array, 3, 64],
];

function sampleFormat(a: Samples): { format: number; bits: number } {
  for (const [T, format, bits] of FORMAT) if (a instanceof T) return { format, bits };
  throw new Error('unsupported sample array');
}

/** Writes one sample of `bits` / `format` at `at` in the chosen byte order. */
function putSample(dv: DataView, at: number, v: number, bits: number, format: number, le: boolean): void {
  if (format === 3) (bits === 32 ? dv.setFloat32(at, v, le) : dv.setFloat64(at, v, le));
  else if (bits === 8) (format === 2 ? dv.setInt8(at, v) : dv.setUint8(at, v));
  else if (bits === 16) (format === 2 ? dv.setInt16(at, v, le) : dv.setUint16(at, v, le));
  else format === 2 ? dv.setInt32(at, v, le) : dv.setUint32(at, v, le);
}

/** The raw (uncompressed) bytes of every strip or tile of `p`, in TIFF order. */
function chunks(p: FixturePage, le: boolean): Uint8Array[] {
  const spp = p.samples ?? 1;
  const { format, bits } = sampleFormat(p.data);
  const bps = bits / 8;
  const planes = p.planar ? spp : 1;
  const perPixel = p.planar ? 1 : spp;
  const [tw, th] = p.tile ?? [p.width, p.rowsPerStrip ?? 3];
  const across = Math.ceil(p.width / tw), down = Math.ceil(p.height / th);
  const out: Uint8Array[] = [];
  for (let plane = 0; plane < planes; plane++) {
    for (let ty = 0; ty < down; ty++) {
      for (let tx = 0; tx < across; tx++) {
        // Strips hold only their rows; tiles are always full size (edges padded with zeros).
        const rows = p.tile ? th : Math.min(th, p.height - ty * th);
        const buf = new Uint8Array(tw * rows * perPixel * bps);
        const dv = new DataView(buf.buffer);
        for (let y = 0; y < rows; y++) {
          const iy = ty * th + y;
          if (iy >= p.height) break;
          for (let x = 0; x < tw; x++) {
            const ix = tx * tw + x;
            if (ix >= p.width) break;
            for (let s = 0; s < perPixel; s++) {
              const sample = p.planar ? plane : s;
              putSample(dv, ((y * tw + x) * perPixel + s) * bps, p.data[(iy * p.width + ix) * spp + sample], bits, format, le);
            }
          }
        }
        out.push(p.deflate ? new Uint8Array(deflateSync(buf)) : buf);
      }
    }
  }
  return out;
}

/** The bytes of a TIFF holding `pages` (see {@link FixturePage}). */
export function writeTiff(pages: FixturePage[], o: TiffWriteOptions = {}): Buffer {
  const le = !o.bigEndian;
  const big = !!o.bigTiff;
  const off = big ? 8 : 4;
  const entrySize = big ? 20 : 12;
  const parts: Uint8Array[] = [];
  let size = big ? 16 : 8;
  const header = new DataView(new ArrayBuffer(size));
  header.setUint16(0, le ? 0x4949 : 0x4d4d, false);
  header.setUint16(2, big ? 43 : 42, le);
  if (big) {
    header.setUint16(4, 8, le);
    header.setUint16(6, 0, le);
  }
  parts.push(new Uint8Array(header.buffer));
  const ifdLinks: { view: DataView; at: number }[] = [];
  const putOffset = (dv: DataView, at: number, v: number) => (big ? dv.setBigUint64(at, BigInt(v), le) : dv.setUint32(at, v, le));
  const linkAt = big ? 8 : 4;
  let prevLink: { view: DataView; at: number } = { view: header, at: linkAt };
  for (const p of pages) {
    const spp = p.samples ?? 1;
    const { format, bits } = sampleFormat(p.data);
    const data = chunks(p, le);
    const dataAt: number[] = [];
    for (const c of data) {
      dataAt.push(size);
      parts.push(c);
      size += c.length;
      if (size % 2) {
        parts.push(new Uint8Array(1));
        size++;
      }
    }
    // Tags: [tag, type, values]; type 2 ASCII, 3 SHORT, 4 LONG, 16 LONG8.
    const offType = big ? 16 : 4;
    const tags: [number, number, number[] | string][] = [
      [254, 4, [p.subfileType ?? 0]],
      [256, 4, [p.width]],
      [257, 4, [p.height]],
      [258, 3, Array(spp).fill(bits)],
      [259, 3, [p.deflate ? 8 : 1]],
      [262, 3, [p.photometric ?? (spp === 3 ? 2 : 1)]],
    ];
    if (p.description !== undefined) tags.push([270, 2, p.description]);
    if (!p.tile) tags.push([273, offType, dataAt]);
    tags.push([277, 3, [spp]]);
    if (!p.tile) tags.push([278, 4, [p.rowsPerStrip ?? 3]], [279, offType, data.map((c) => c.length)]);
    tags.push([284, 3, [p.planar ? 2 : 1]]);
    if (p.tile) tags.push([322, 4, [p.tile[0]]], [323, 4, [p.tile[1]]], [324, offType, dataAt], [325, offType, data.map((c) => c.length)]);
    tags.push([339, 3, Array(spp).fill(format)]);
    // Values that do not fit in the entry go after it.
    const ifdAt = size;
    const ifdSize = (big ? 8 : 2) + tags.length * entrySize + off;
    let extraAt = ifdAt + ifdSize;
    const ifd = new DataView(new ArrayBuffer(ifdSize));
    const extras: Uint8Array[] = [];
    big ? ifd.setBigUint64(0, BigInt(tags.length), le) : ifd.setUint16(0, tags.length, le);
    tags.forEach(([tag, type, values], k) => {
      const e = (big ? 8 : 2) + k * entrySize;
      const bytes = typeof values === 'string' ? new TextEncoder().encode(values + '\0') : undefined;
      const count = bytes ? bytes.length : (values as number[]).length;
      const width = type === 2 ? 1 : type === 3 ? 2 : type === 4 ? 4 : 8;
      const raw = new Uint8Array(count * width);
      const rv = new DataView(raw.buffer);
      if (bytes) raw.set(bytes);
      else (values as number[]).forEach((v, i) => (width === 2 ? rv.setUint16(2 * i, v, le) : width === 4 ? rv.setUint32(4 * i, v, le) : rv.setBigUint64(8 * i, BigInt(v), le)));
      ifd.setUint16(e, tag, le);
      ifd.setUint16(e + 2, type, le);
      big ? ifd.setBigUint64(e + 4, BigInt(count), le) : ifd.setUint32(e + 4, count, le);
      const valueAt = e + (big ? 12 : 8);
      if (raw.length <= off) new Uint8Array(ifd.buffer).set(raw, valueAt);
      else {
        putOffset(ifd, valueAt, extraAt);
        const padded = raw.length % 2 ? new Uint8Array(raw.length + 1) : raw;
        if (padded !== raw) padded.set(raw);
        extras.push(padded);
        extraAt += padded.length;
      }
    });
    putOffset(prevLink.view, prevLink.at, ifdAt);
    prevLink = { view: ifd, at: ifdSize - off };
    ifdLinks.push(prevLink);
    parts.push(new Uint8Array(ifd.buffer), ...extras);
    size = extraAt;
  }
  return Buffer.concat(parts);
}

/** OME-XML for one image of `sizeC` channels (optionally Z and T planes) stored one plane per IFD. */
export function omeXml(o: { width: number; height: number; sizeC: number; sizeZ?: number; sizeT?: number; type: string; order?: string; channelNames?: string[]; tiffData?: string }): string {
  const channels = Array.from({ length: o.sizeC }, (_, c) => `<Channel ID="Channel:0:${c}" SamplesPerPixel="1"${o.channelNames ? ` Name="${o.channelNames[c]}"` : ''}/>`).join('');
  return (
    '<?xml version="1.0" encoding="UTF-8"?>' +
    '<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06" Creator="ben-ssl test">' +
    `<Image ID="Image:0" Name="field"><Pixels ID="Pixels:0" DimensionOrder="${o.order ?? 'XYCZT'}" Type="${o.type}" ` +
    `SizeX="${o.width}" SizeY="${o.height}" SizeC="${o.sizeC}" SizeZ="${o.sizeZ ?? 1}" SizeT="${o.sizeT ?? 1}">` +
    channels +
    (o.tiffData ?? `<TiffData/>`) +
    '</Pixels></Image></OME>'
  );
}
