import sharp from 'sharp';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { UserError } from '../util/errors.ts';

/** Decoded pixels, interleaved [height, width, channels] (HWC), as sharp's raw output. */
export interface RawImage {
  data: Uint8Array | Uint16Array | Float32Array;
  width: number;
  height: number;
  channels: number;
}

/** One example image shown in the report, before and after per-image standardisation. */
export interface ExampleImage {
  /** Plate the image comes from (the row's heading). */
  plate: string;
  /** Short description (well, site, treatment). */
  caption?: string;
  /** Image file any sharp-readable format (RxRx1-WILDS: 3-channel PNG). */
  path?: string;
  /** Pixels given directly (e.g. from the data pipeline); used when `path` is absent. */
  image?: RawImage;
}

/** The two display versions of an example, as PNG bytes. */
export interface ExamplePngs {
  before: Buffer;
  after: Buffer;
  /** Per-channel mean of the raw image, scaled to [0, 1]: the plate's brightness at a glance. */
  channelMeans: number[];
}

/** Reads an image file into raw HWC pixels (alpha removed). */
export async function loadImage(path: string): Promise<RawImage> {
  try {
    const { data, info } = await sharp(path).removeAlpha().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, channels: info.channels };
  } catch (e) {
    throw new UserError(`Cannot read example image ${path}: ${(e as Error).message}. Check the file or leave it out of the examples.`);
  }
}

/** Full-scale value of a pixel array's type (8-bit 255, 16-bit 65535, float 1). */
function fullScale(data: RawImage['data']): number {
  return data instanceof Uint8Array ? 255 : data instanceof Uint16Array ? 65535 : 1;
}

/**
 * Per-image, per-channel standardisation, z = (x - mean_c) / std_c over the image's pixels, as
 * BEN (Lin & Lu 2022) and the RxRx1-WILDS baseline apply to every input. Returns HWC float32.
 * A constant channel (std 0) becomes all zeros rather than NaN.
 */
export function standardizePerImage(img: RawImage): Float32Array {
  const { data, channels: c } = img;
  const px = img.width * img.height;
  if (data.length !== px * c) throw new Error(`standardizePerImage: ${data.length} values for ${img.width}x${img.height}x${c}`);
  const out = new Float32Array(data.length);
  for (let ch = 0; ch < c; ch++) {
    let sum = 0;
    for (let i = ch; i < data.length; i += c) sum += data[i];
    const mean = sum / px;
    let ss = 0;
    for (let i = ch; i < data.length; i += c) ss += (data[i] - mean) ** 2;
    const std = Math.sqrt(ss / px);
    const inv = std > 0 ? 1 / std : 0;
    for (let i = ch; i < data.length; i += c) out[i] = (data[i] - mean) * inv;
  }
  return out;
}

/** Display channels: grey stays grey, 3+ channels show the first three as RGB. */
function displayChannels(c: number): number {
  return c >= 3 ? 3 : 1;
}

/** Maps raw pixels to 8-bit for display with a fixed scale, so brightness differences show. */
export function displayRaw(img: RawImage): Uint8Array {
  const c = img.channels;
  const dc = displayChannels(c);
  const px = img.width * img.height;
  const s = 255 / fullScale(img.data);
  const out = new Uint8Array(px * dc);
  for (let p = 0; p < px; p++) for (let k = 0; k < dc; k++) out[p * dc + k] = Math.max(0, Math.min(255, Math.round(img.data[p * c + k] * s)));
  return out;
}

/**
 * Maps standardised values to 8-bit with one fixed window, z in [-3, 3] -> [0, 255], the same for
 * every plate: what differs after standardisation is biology, not plate brightness.
 */
export function displayStandardized(z: Float32Array, img: Pick<RawImage, 'width' | 'height' | 'channels'>): Uint8Array {
  const c = img.channels;
  const dc = displayChannels(c);
  const px = img.width * img.height;
  const out = new Uint8Array(px * dc);
  for (let p = 0; p < px; p++) for (let k = 0; k < dc; k++) out[p * dc + k] = Math.max(0, Math.min(255, Math.round(127.5 + (z[p * c + k] * 127.5) / 3)));
  return out;
}

/** PNG bytes of an example before and after standardisation, at most `maxSize` pixels wide. */
export async function examplePngs(ex: ExampleImage, maxSize = 192): Promise<ExamplePngs> {
  const img = ex.image ?? (ex.path ? await loadImage(ex.path) : undefined);
  if (!img) throw new UserError(`Example image for plate "${ex.plate}" has neither a path nor pixels.`);
  const dc = displayChannels(img.channels);
  const scale = fullScale(img.data);
  const channelMeans = Array.from({ length: dc }, (_, k) => {
    let s = 0;
    for (let i = k; i < img.data.length; i += img.channels) s += img.data[i];
    return s / (img.width * img.height) / scale;
  });
  const toPng = (pix: Uint8Array) =>
    sharp(Buffer.from(pix.buffer, pix.byteOffset, pix.length), { raw: { width: img.width, height: img.height, channels: dc as 1 | 3 } })
      .resize({ width: Math.min(maxSize, img.width), kernel: 'nearest' })
      .png()
      .toBuffer();
  const [before, after] = await Promise.all([toPng(displayRaw(img)), toPng(displayStandardized(standardizePerImage(img), img))]);
  return { before, after, channelMeans };
}

/**
 * Picks one example image per plate from a data set in the RxRx1-WILDS layout
 * (`metadata.csv` with experiment, plate, well, site[, well_type, sirna]; images at
 * `images/<experiment>/Plate<plate>/<well>_s<site>.png`). Where every plate has negative-control
 * wells, each plate shows its first one, so the rows differ by plate effect, not biology;
 * otherwise the same well and site is taken on every plate where it exists.
 */
export async function pickExamplesFromDataset(datasetDir: string, maxPlates = 8): Promise<ExampleImage[]> {
  const csvPath = join(datasetDir, 'metadata.csv');
  if (!existsSync(csvPath)) {
    throw new UserError(`No metadata.csv in ${datasetDir}: example images need a data set in the RxRx1-WILDS layout (metadata.csv + images/).`);
  }
  const rows = parse(await readFile(csvPath), { columns: true, skip_empty_lines: true }) as Record<string, string>[];
  for (const col of ['experiment', 'plate', 'well', 'site']) {
    if (rows.length > 0 && !(col in rows[0])) throw new UserError(`${csvPath} has no "${col}" column; the RxRx1-WILDS layout needs experiment, plate, well, site.`);
  }
  const byPlate = new Map<string, Record<string, string>[]>();
  const posCount = new Map<string, number>();
  for (const r of rows) {
    const key = `${r.experiment}/Plate${r.plate}`;
    let list = byPlate.get(key);
    if (!list) byPlate.set(key, (list = []));
    list.push(r);
  }
  for (const list of byPlate.values()) {
    for (const pos of new Set(list.map((r) => `${r.well}_s${r.site}`))) posCount.set(pos, (posCount.get(pos) ?? 0) + 1);
  }
  const byPos = (a: Record<string, string>, b: Record<string, string>) =>
    a.well.localeCompare(b.well, 'en', { numeric: true }) || a.site.localeCompare(b.site, 'en', { numeric: true });
  const controls = new Map([...byPlate].map(([k, list]) => [k, list.filter((r) => r.well_type === 'negative_control').sort(byPos)[0]]));
  const useControls = [...controls.values()].every((r) => r !== undefined);
  const best = [...posCount.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0], 'en', { numeric: true }))[0]?.[0];
  const plates = [...byPlate.keys()].sort((a, b) => a.localeCompare(b, 'en', { numeric: true })).slice(0, maxPlates);
  return plates.map((plate) => {
    const list = byPlate.get(plate)!;
    const r = (useControls ? controls.get(plate) : list.find((x) => `${x.well}_s${x.site}` === best)) ?? list[0];
    const treatment = r.well_type === 'negative_control' ? `negative control${r.sirna ? ` (${r.sirna})` : ''}` : (r.sirna ?? r.sirna_id ?? r.well_type);
    return {
      plate,
      caption: `${r.well} site ${r.site}${treatment !== undefined ? ` · ${treatment}` : ''}`,
      path: join(datasetDir, 'images', r.experiment, `Plate${r.plate}`, `${r.well}_s${r.site}.png`),
    };
  });
}
