import { readdir, stat } from 'node:fs/promises';
import { UserError } from '../../util/errors.ts';
import { Dataset, type ReadOptions } from '../image-dataset.ts';
import { applyIllumination, type IlluminationMode, type IlluminationOptions } from '../illumination/index.ts';
import { fitIntensity, type IntensityOptions } from '../preprocess.ts';
import { bytesPerSample } from '../types.ts';
import { imageFolderReader } from './image-folder.ts';
import { loadDataReader } from './loaddata.ts';
import { readers, type DatasetReader, type ReaderOption } from './reader.ts';
import { rxrx1Reader } from './rxrx1.ts';
import { rxrx1WildsReader } from './rxrx1-wilds.ts';

readers.register(rxrx1WildsReader.name, rxrx1WildsReader);
readers.register(rxrx1Reader.name, rxrx1Reader);
readers.register(loadDataReader.name, loadDataReader);
readers.register(imageFolderReader.name, imageFolderReader);

export { readers };
export type { DatasetReader, ReaderFlagForm, ReaderOption } from './reader.ts';

/** Layouts tried, in order, when none is named: the readers that declare a `detectOrder`. */
export function detectionOrder(): string[] {
  return readers
    .inOrder()
    .filter((n) => readers.get(n).detectOrder !== undefined)
    .sort((a, b) => readers.get(a).detectOrder! - readers.get(b).detectOrder!);
}

/** The reader a recipe's `data.source` names: by name or by one of its aliases (`loaddata`). */
export function readerForSource(source: string): DatasetReader | undefined {
  if (readers.has(source)) return readers.get(source);
  return readers.inOrder().map((n) => readers.get(n)).find((r) => r.aliases?.includes(source));
}

/** Every name `data.source` accepts for a reader (names and aliases), in registration order. */
export function readerSourceNames(): string[] {
  return readers.inOrder().flatMap((n) => [n, ...(readers.get(n).aliases ?? [])]);
}

/** One option across the readers that declare it. */
export interface DeclaredOption {
  key: string;
  option: ReaderOption;
  /** The readers declaring it, in registration order. */
  readers: string[];
}

/**
 * Every reader option by key, from the registry. Readers share an option by sharing its
 * declaration (site-fields.ts); two different declarations of one key are a programming error.
 */
export function readerOptions(): Map<string, DeclaredOption> {
  const out = new Map<string, DeclaredOption>();
  for (const name of readers.inOrder()) {
    for (const [key, option] of Object.entries(readers.get(name).options)) {
      const d = out.get(key);
      if (!d) out.set(key, { key, option, readers: [name] });
      else if (d.option !== option) throw new Error(`reader option "${key}" is declared differently by ${d.readers.join(', ')} and ${name}; share one declaration`);
      else d.readers.push(name);
    }
  }
  return out;
}

/** The command-line flag of a reader option: its declared name, else the key in kebab-case. */
export function optionFlag(key: string, o: ReaderOption): string {
  return o.flag?.name ?? key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/**
 * Checks `opts`' values of `reader`'s options against their schemas (a UserError naming the recipe
 * field and the flag); values of options the reader does not declare are dropped.
 */
export function parseReaderOptions(reader: DatasetReader, opts: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, o] of Object.entries(reader.options)) {
    if (opts[key] === undefined) continue;
    const r = o.schema.safeParse(opts[key]);
    if (!r.success) throw new UserError(`data.${key} (--${optionFlag(key, o)}) ${JSON.stringify(opts[key])}: ${r.error.issues.map((i) => `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`).join('; ')}.`);
    out[key] = r.data;
  }
  return out;
}

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
  const read = (r: DatasetReader) => r.read(path, { ...readOpts, ...parseReaderOptions(r, readOpts) });
  if (layout) ds = await read(readers.get(layout));
  else {
    for (const name of detectionOrder()) {
      const r = readers.get(name);
      if (await r.detect(path)) {
        ds = await read(r);
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
