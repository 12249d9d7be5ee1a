/**
 * Small generated screens for the illumination, URL and locations tests: a LoadData plate of
 * 16-bit TIFFs whose pixels are known content times a known illumination function.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { encodeTiff } from '../../src/data/decode.ts';
import { encodeNpy } from '../../src/data/npy.ts';
import { toCsv } from '../../src/data/csv.ts';
import { Rng } from '../../src/util/rng.ts';

/** A smooth vignette: 1 at the centre, falling to `1 - depth` in the corners, tilted by `tilt`. */
export function vignette(height: number, width: number, depth = 0.5, tilt = 0.2): Float32Array {
  const f = new Float32Array(height * width);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const dx = (x + 0.5) / width - 0.5, dy = (y + 0.5) / height - 0.5;
      f[y * width + x] = 1 - depth * 2 * (dx * dx + dy * dy) + tilt * dx;
    }
  }
  return f;
}

/** A generated LoadData screen: its CSV, its images' content and its functions. */
export interface Screen {
  dir: string;
  csv: string;
  height: number;
  width: number;
  channels: string[];
  /** Site key `plate/well/site` -> HWC uint16 samples as written. */
  pixels: Map<string, Uint16Array>;
  /** Plate -> function per channel (values as written). */
  functions: Map<string, Float32Array[]>;
  /** Plate -> function file per channel. */
  functionFiles: Map<string, string[]>;
}

/**
 * Writes `plates` plates x `wells` wells x `sites` sites of `channels` 16-bit TIFFs: random blobs
 * on a background, multiplied by the plate's vignette (one per channel, scaled so its 2nd
 * percentile is ~1 as CellProfiler's), with FileName_Orig/PathName_Orig and
 * FileName_Illum/PathName_Illum columns (functions as float32 .npy; NumPy's other dtypes and
 * orders are covered by npy.test.ts).
 */
export async function writeScreen(dir: string, o: { plates?: number; wells?: number; sites?: number; height?: number; width?: number; channels?: string[]; seed?: number; illumColumns?: boolean } = {}): Promise<Screen> {
  const plates = o.plates ?? 2, wells = o.wells ?? 3, sites = o.sites ?? 2;
  const H = o.height ?? 40, W = o.width ?? 48;
  const channels = o.channels ?? ['DNA', 'AGP'];
  const rng = new Rng(o.seed ?? 1);
  const pixels = new Map<string, Uint16Array>();
  const functions = new Map<string, Float32Array[]>();
  const functionFiles = new Map<string, string[]>();
  const rows: (string | number)[][] = [];
  mkdirSync(dir, { recursive: true });
  for (let p = 1; p <= plates; p++) {
    const plate = `P${p}`;
    const fns = channels.map((_, c) => {
      const v = vignette(H, W, 0.4 + 0.2 * c + 0.1 * p, 0.3 - 0.2 * c);
      const sorted = Float32Array.from(v).sort();
      const m = sorted[Math.floor(0.02 * v.length)];
      return v.map((x) => x / m);
    });
    functions.set(plate, fns);
    const files = channels.map((ch) => join(dir, 'illum', plate, `${plate}_Illum${ch}.npy`));
    files.forEach((f, c) => {
      mkdirSync(dirname(f), { recursive: true });
      writeFileSync(f, encodeNpy(fns[c], [H, W]));
    });
    functionFiles.set(plate, files);
    for (let w = 1; w <= wells; w++) {
      const well = `A${String(w).padStart(2, '0')}`;
      for (let s = 1; s <= sites; s++) {
        const px = new Uint16Array(H * W * channels.length);
        const blobs = Array.from({ length: 30 }, () => ({ x: rng.uniform(0, W), y: rng.uniform(0, H), r: rng.uniform(1.5, 3) }));
        for (let y = 0; y < H; y++) {
          for (let x = 0; x < W; x++) {
            let v = 0.3;
            for (const b of blobs) v += 0.4 * Math.exp(-((x - b.x) ** 2 + (y - b.y) ** 2) / (2 * b.r * b.r));
            channels.forEach((_, c) => (px[(y * W + x) * channels.length + c] = Math.round(Math.min(1, v * (1 + 0.3 * c)) * 40000 * (fns[c][y * W + x] / 1.8))));
          }
        }
        pixels.set(`${plate}/${well}/${s}`, px);
        const names = channels.map((ch) => `${plate}_${well}_s${s}_${ch}.tif`);
        mkdirSync(join(dir, 'images', plate), { recursive: true });
        for (let c = 0; c < channels.length; c++) {
          const plane = new Uint16Array(H * W);
          for (let q = 0; q < H * W; q++) plane[q] = px[q * channels.length + c];
          writeFileSync(join(dir, 'images', plate, names[c]), await encodeTiff(plane, W, H));
        }
        rows.push([plate, well, s, w === 1 ? 'negcon' : 'trt', ...names.flatMap((n) => [n, `images/${plate}`]), ...(o.illumColumns === false ? [] : files.flatMap((f) => [f.split('/').pop()!, `illum/${plate}`]))]);
      }
    }
  }
  const cols = ['Metadata_Plate', 'Metadata_Well', 'Metadata_Site', 'Metadata_control_type', ...channels.flatMap((ch) => [`FileName_Orig${ch}`, `PathName_Orig${ch}`]), ...(o.illumColumns === false ? [] : channels.flatMap((ch) => [`FileName_Illum${ch}`, `PathName_Illum${ch}`]))];
  const csv = join(dir, 'load_data.csv');
  writeFileSync(csv, toCsv(cols, rows));
  return { dir, csv, height: H, width: W, channels, pixels, functions, functionFiles };
}


/** A minimal uncompressed little-endian float32 grey TIFF (as Fiji and CellProfiler save float images). */
export function floatTiff(data: Float32Array, width: number, height: number): Buffer {
  const entries: [number, number, number][] = [
    [256, 4, width], [257, 4, height], [258, 3, 32], [259, 3, 1], [262, 3, 1],
    [273, 4, 0], [277, 3, 1], [278, 4, height], [279, 4, 4 * width * height], [339, 3, 3],
  ];
  const ifdSize = 2 + 12 * entries.length + 4;
  const dataAt = 8 + ifdSize;
  const buf = Buffer.alloc(dataAt + 4 * data.length);
  buf.write('II', 0, 'latin1');
  buf.writeUInt16LE(42, 2);
  buf.writeUInt32LE(8, 4);
  buf.writeUInt16LE(entries.length, 8);
  entries.forEach(([tag, type, value], k) => {
    const e = 10 + 12 * k;
    buf.writeUInt16LE(tag, e);
    buf.writeUInt16LE(type, e + 2);
    buf.writeUInt32LE(1, e + 4);
    if (type === 3) buf.writeUInt16LE(value, e + 8);
    else buf.writeUInt32LE(tag === 273 ? dataAt : value, e + 8);
  });
  for (let i = 0; i < data.length; i++) buf.writeFloatLE(data[i], dataAt + 4 * i);
  return buf;
}
