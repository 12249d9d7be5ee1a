import { readdir, stat } from 'node:fs/promises';
import { UserError } from '../../util/errors.ts';
import { Dataset, type ReadOptions } from '../image-dataset.ts';
import { applyIllumination, type IlluminationMode, type IlluminationOptions } from '../illumination/index.ts';
import { fitIntensity, type IntensityOptions } from '../preprocess.ts';
import { imageFolderReader } from './image-folder.ts';
import { loadDataReader } from './loaddata.ts';
import { readers } from './reader.ts';
import { bytesPerSample } from '../types.ts';
import { rxrx1Reader } from './rxrx1.ts';
import { rxrx1WildsReader } from './rxrx1-wilds.ts';

readers.register(rxrx1WildsReader.name, rxrx1WildsReader);
readers.register(rxrx1Reader.name, rxrx1Reader);
readers.register(loadDataReader.name, loadDataReader);
readers.register(imageFolderReader.name, imageFolderReader);

export { readers };
export type { DatasetReader } from './reader.ts';

/** Layouts tried, in order, when none is named (image-folder needs a pattern, so it is never guessed). */
const DETECT_ORDER = ['rxrx1-wilds', 'rxrx1', 'loaddata-csv'];

/** Why no layout was detected at `path`, as one message with the fix. */
async function undetected(path: string): Promise<UserError> {
  const st = await stat(path).catch(() => undefined);
  if (!st) return new UserError(`${path} does not exist. Check the path (a data set folder, or a LoadData CSV).`);
  const names = readers.names().join(', ');
  if (st.isFile()) {
    if (!path.toLowerCase().endsWith('.csv')) return new UserError(`${path} is a file but not a CSV; name a data set folder or a LoadData CSV.`);
    return new UserError(`${path} is not a LoadData CSV: it needs Metadata_Plate, Metadata_Well and FileName_<Channel> columns (and at least one row). Fix the header, or name the layout with --layout (${names}).`);
  }
  const entries = await readdir(path);
  if (entries.length === 0) return new UserError(`${path} is an empty folder; put the images (and their metadata) there.`);
  if (entries.some((e) => /\.(tiff?|png)$/i.test(e))) {
    return new UserError(
      `Cannot tell the layout of ${path}: it holds images but no metadata.csv or LoadData CSV. Read it as a folder of images with --layout image-folder ` +
        `--pattern '<regex with (?<ch>..), (?<well>..) or (?<row>..)(?<col>..)>' [--plate-map plate_map.csv] (recipe: data.source: image-folder, data.pattern).`,
    );
  }
  return new UserError(`Cannot tell the layout of ${path}. Name it with --layout (${names}).`);
}

/** Options of {@link readDataset}: every reader's options, the layout, the illumination correction and the intensity scaling. */
export type ReadDatasetOptions = ReadOptions & { layout?: string; intensity?: IntensityOptions; illumination?: IlluminationMode | IlluminationOptions } & Record<string, unknown>;

/**
 * Reads a data set in the named layout, or the first layout whose `detect` accepts `path`, then
 * divides the images by their illumination functions (data/illumination/; default: the functions
 * the metadata names, else none) and applies the intensity scaling (default raw), in that order,
 * as the pixels are decoded. Extra reader options (LoadData's `labelColumn`, image-folder's
 * `pattern`...) pass through. With `metadataOnly` nothing is decoded, fitted or computed: the
 * choices are recorded as asked.
 */
export async function readDataset(path: string, opts: ReadDatasetOptions = {}): Promise<Dataset> {
  const { layout, intensity, illumination, ...rest } = opts;
  const illum: IlluminationOptions = typeof illumination === 'string' ? { mode: illumination } : (illumination ?? {});
  // Pixels are corrected and scaled as they are decoded: read lazily, transform, then load as asked.
  const readOpts = { ...rest, load: false };
  let ds: Dataset | undefined;
  if (layout) ds = await readers.get(layout).read(path, readOpts);
  else {
    for (const name of DETECT_ORDER) {
      const r = readers.get(name);
      if (await r.detect(path)) {
        ds = await r.read(path, readOpts);
        break;
      }
    }
  }
  if (!ds) throw await undetected(path);
  ds = await applyIllumination(ds, illum);
  if (intensity !== undefined && intensity.mode !== 'raw') {
    ds = rest.metadataOnly ? new Dataset({ ...ds, intensity: { ...intensity, note: 'not fitted: the images were not read' } }) : await fitIntensity(ds, intensity);
  }
  if (rest.metadataOnly) return ds;
  const load = rest.load ?? 'auto';
  const bytes = ds.size * ds.height * ds.width * ds.images.channels * bytesPerSample(ds.dtype);
  if (load === true || (load === 'auto' && bytes <= ((rest.memoryLimitBytes as number | undefined) ?? 4 * 2 ** 30))) return ds.load({ skipBad: rest.skipBad as boolean | undefined, onProgress: rest.onProgress as ((n: number) => void) | undefined });
  return ds;
}
