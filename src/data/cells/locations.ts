/**
 * Nuclei centres given by CellProfiler (or DeepProfiler), instead of detected ones: the way the
 * field cuts single cells (DeepProfiler, Moshkov et al. 2024). Three layouts:
 * - a table (CSV, CSV.gz, Parquet) with `Metadata_Plate`, `Metadata_Well`, `Metadata_Site` (and
 *   the experiment columns when plate ids repeat across experiments) and
 *   `<Object>_Location_Center_X/Y` or `Location_Center_X/Y` (an `Image_` prefix on the metadata
 *   columns, as CellProfiler's database export writes them, is accepted);
 * - CellProfiler's per-object table keyed by `ImageNumber` (`Nuclei.csv`), with its per-image
 *   table (`Image.csv`, `images`) mapping `ImageNumber` to the metadata;
 * - DeepProfiler's `locations/<plate>/<well>-<site>-<Object>.csv` folder.
 * Coordinates are CellProfiler's: x the column, y the row, the centre of pixel (0, 0) at (0, 0).
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { DataError, UserError } from '../../util/errors.ts';
import { readTableColumns, type PickedColumns } from '../../tables/columns.ts';
import type { SiteRecord } from '../types.ts';

/** One given centre and where it was read. */
export interface GivenCentre {
  x: number;
  y: number;
  /** Index into {@link CellLocations.files}. */
  file: number;
  /** Row in its file, 0-based (see `rowLabel`). */
  row: number;
}

/** Nuclei centres by site. */
export interface CellLocations {
  /** What was read (the table, the folder), for notices. */
  source: string;
  /** Each file read, with how to name its rows. */
  files: { path: string; rowLabel(i: number): string }[];
  /** Site key -> its centres, in file order. */
  bySite: Map<string, GivenCentre[]>;
  /** Metadata columns of the experiment the keys include (empty: plate/well/site only). */
  experimentColumns: string[];
  /** The X / Y columns used. */
  columns: { x: string; y: string };
}

/** Options of {@link readLocations}. */
export interface LocationsOptions {
  /** CellProfiler's per-image table, when `path` is a per-object table keyed by ImageNumber. */
  images?: string;
  /**
   * The data set's experiment columns (e.g. `[Metadata_Source, Metadata_Batch]`): used in the
   * site key when the table has them all.
   */
  experimentColumns?: readonly string[];
}

/** The key of a site: normalised well (`A1` = `A01`), integer site. */
export function siteKey(experiment: string | undefined, plate: string, well: string, site: number | string): string {
  const m = /^\s*([A-Za-z]+)[-_ ]?0*(\d+)\s*$/.exec(well);
  const w = m ? `${m[1].toUpperCase()}${m[2].padStart(2, '0')}` : well.trim();
  return `${experiment === undefined ? '' : `${experiment}//`}${plate.trim()}/${w}/${Number(site)}`;
}

/** The key of a data set row under the columns the locations were read with. */
export function rowSiteKey(row: SiteRecord, loc: CellLocations): string {
  const exp = loc.experimentColumns.length ? loc.experimentColumns.map((c) => row.extra[c] ?? (c === 'Metadata_Experiment' ? row.experiment : '')).join('/') : undefined;
  return siteKey(exp, row.plate, row.well, row.site);
}

/** A column of `names`, with or without CellProfiler's `Image_` prefix. */
function col(names: readonly string[], name: string): string | undefined {
  return names.includes(name) ? name : names.includes(`Image_${name}`) ? `Image_${name}` : undefined;
}

/** The X / Y columns of a table: `Nuclei_Location_Center_X` first, then any `<Object>_` one, then plain. */
function xyColumns(names: readonly string[], path: string): { x: string; y: string } {
  const xs = names.filter((n) => /(^|_)Location_Center_X$/.test(n) && names.includes(n.replace(/X$/, 'Y')));
  const pick = xs.find((n) => n === 'Nuclei_Location_Center_X') ?? (xs.length === 1 ? xs[0] : xs.find((n) => n === 'Location_Center_X'));
  if (!pick) {
    throw new UserError(
      xs.length === 0
        ? `Locations table ${path} has no Location_Center_X / Location_Center_Y columns (or <Object>_Location_Center_X/Y); name CellProfiler's object table (e.g. Nuclei.csv). Columns: ${names.slice(0, 20).join(', ')}${names.length > 20 ? ', ...' : ''}.`
        : `Locations table ${path} has several objects' centres (${xs.join(', ')}) and none is Nuclei_Location_Center_X; keep the nuclei's columns only.`,
    );
  }
  return { x: pick, y: pick.replace(/X$/, 'Y') };
}

const num = (v: string | number | null | undefined): number => (v === null || v === undefined || v === '' ? NaN : Number(v));
const str = (v: string | number | null | undefined): string => (v === null || v === undefined ? '' : String(v));

/** Reads nuclei centres from a table, a per-object + per-image pair, or a DeepProfiler folder. */
export async function readLocations(path: string, o: LocationsOptions = {}): Promise<CellLocations> {
  const st = await stat(path).catch(() => undefined);
  if (!st) throw new UserError(`data.crops.locations (--locations): ${path} does not exist; name a locations table (CSV, CSV.gz, Parquet) or DeepProfiler's locations/ folder.`);
  if (st.isDirectory()) return readDeepProfilerFolder(path);
  const meta = ['Metadata_Plate', 'Metadata_Well', 'Metadata_Site'];
  const t = await readTableColumns(path, (names) => {
    const xy = names.filter((n) => /Location_Center_[XY]$/.test(n));
    const keys = [...meta, 'Metadata_Experiment', ...(o.experimentColumns ?? []), 'ImageNumber'].map((m) => col(names, m)).filter((c): c is string => !!c);
    return [...keys, ...xy];
  });
  const xy = xyColumns(t.names, path);
  const files = [{ path, rowLabel: t.rowLabel }];
  if (col(t.names, 'Metadata_Plate')) {
    const keyOf = keyReader(t, o, path);
    return { source: path, files, bySite: centresBy(t, xy, 0, (i) => keyOf.key(i)), experimentColumns: keyOf.experimentColumns, columns: xy };
  }
  if (!t.columns.has('ImageNumber')) {
    throw new UserError(`Locations table ${path} has neither Metadata_Plate / Metadata_Well / Metadata_Site nor ImageNumber; add the site's metadata columns, or give CellProfiler's per-object table with its per-image table (--locations-images Image.csv).`);
  }
  if (!o.images) throw new UserError(`Locations table ${path} names its sites by ImageNumber only: give CellProfiler's per-image table that maps ImageNumber to Metadata_Plate/Well/Site with --locations-images (recipe data.crops.locationsImages).`);
  const img = await readTableColumns(o.images, (names) => ['ImageNumber', ...meta, 'Metadata_Experiment', ...(o.experimentColumns ?? [])].map((m) => col(names, m)).filter((c): c is string => !!c));
  for (const m of ['ImageNumber', ...meta]) {
    if (!col(img.names, m)) throw new UserError(`Per-image table ${o.images} (--locations-images) has no ${m} column; it must map ImageNumber to Metadata_Plate, Metadata_Well and Metadata_Site.`);
  }
  const imgKey = keyReader(img, o, o.images);
  const byNumber = new Map<number, string>();
  const numbers = img.columns.get(col(img.names, 'ImageNumber')!)!;
  for (let i = 0; i < img.n; i++) byNumber.set(num(numbers[i]), imgKey.key(i));
  const objNumbers = t.columns.get('ImageNumber')!;
  const bySite = centresBy(t, xy, 0, (i) => {
    const k = byNumber.get(num(objNumbers[i]));
    if (k === undefined) throw new DataError(`Locations table ${path} ${t.rowLabel(i)}: ImageNumber ${str(objNumbers[i])} is not in the per-image table ${o.images}; give the per-image table of the same CellProfiler run.`);
    return k;
  });
  return { source: `${path} + ${o.images}`, files, bySite, experimentColumns: imgKey.experimentColumns, columns: xy };
}

/** Site keys of a table's rows: plate/well/site, with the experiment columns when it has them all. */
function keyReader(t: PickedColumns, o: LocationsOptions, path: string): { key(i: number): string; experimentColumns: string[] } {
  const c = (m: string) => {
    const name = col(t.names, m);
    if (!name) throw new UserError(`Locations table ${path} has no ${m} column; a locations table names each site by Metadata_Plate, Metadata_Well and Metadata_Site.`);
    return t.columns.get(name)!;
  };
  const [plate, well, site] = [c('Metadata_Plate'), c('Metadata_Well'), c('Metadata_Site')];
  const wanted = o.experimentColumns?.length ? [...o.experimentColumns] : [];
  let experimentColumns = wanted.length && wanted.every((m) => col(t.names, m)) ? wanted : [];
  if (!experimentColumns.length && col(t.names, 'Metadata_Experiment')) experimentColumns = ['Metadata_Experiment'];
  const exps = experimentColumns.map((m) => t.columns.get(col(t.names, m)!)!);
  return {
    experimentColumns,
    key: (i) => siteKey(exps.length ? exps.map((e) => str(e[i])).join('/') : undefined, str(plate[i]), str(well[i]), num(site[i])),
  };
}

function centresBy(t: PickedColumns, xy: { x: string; y: string }, file: number, keyOf: (i: number) => string): Map<string, GivenCentre[]> {
  const xs = t.columns.get(xy.x)!, ys = t.columns.get(xy.y)!;
  const out = new Map<string, GivenCentre[]>();
  for (let i = 0; i < t.n; i++) {
    const k = keyOf(i);
    const list = out.get(k) ?? [];
    if (list.length === 0) out.set(k, list);
    list.push({ x: num(xs[i]), y: num(ys[i]), file, row: i });
  }
  return out;
}

/** DeepProfiler's `locations/<plate>/<well>-<site>-<Object>.csv` (Nuclei files when several objects). */
async function readDeepProfilerFolder(dir: string): Promise<CellLocations> {
  const files: CellLocations['files'] = [];
  const bySite = new Map<string, GivenCentre[]>();
  let columns: { x: string; y: string } | undefined;
  for (const plate of (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort()) {
    const names = (await readdir(join(dir, plate))).filter((f) => /^.+-\d+-.+\.csv(\.gz)?$/i.test(f)).sort();
    const objects = new Set(names.map((f) => /-([^-]+)\.csv(\.gz)?$/i.exec(f)![1]));
    const object = objects.has('Nuclei') ? 'Nuclei' : objects.size === 1 ? [...objects][0] : undefined;
    if (!object && objects.size > 1) throw new UserError(`DeepProfiler locations folder ${join(dir, plate)} holds several objects (${[...objects].join(', ')}) and no Nuclei files; keep one object's files.`);
    for (const f of names) {
      const m = /^(.+)-(\d+)-([^-]+)\.csv(\.gz)?$/i.exec(f)!;
      if (m[3] !== object) continue;
      const path = join(dir, plate, f);
      const t = await readTableColumns(path, (ns) => ns.filter((n) => /Location_Center_[XY]$/.test(n)));
      const xy = xyColumns(t.names, path);
      columns ??= xy;
      files.push({ path, rowLabel: t.rowLabel });
      const k = siteKey(undefined, plate, m[1], Number(m[2]));
      const list = centresBy(t, xy, files.length - 1, () => k).get(k) ?? [];
      bySite.set(k, [...(bySite.get(k) ?? []), ...list]);
      if (t.n === 0) bySite.set(k, bySite.get(k) ?? []);
    }
  }
  if (files.length === 0) throw new UserError(`${dir} holds no DeepProfiler locations (<plate>/<well>-<site>-Nuclei.csv); name a locations table or DeepProfiler's locations/ folder.`);
  return { source: dir, files, bySite, experimentColumns: [], columns: columns! };
}

/** A given centre outside its `width` x `height` image, as the error naming file, row and site. */
export function outsideError(loc: CellLocations, c: GivenCentre, site: SiteRecord, width: number, height: number): DataError {
  const f = loc.files[c.file];
  return new DataError(
    `Locations ${f.path} ${f.rowLabel(c.row)}: centre (${c.x}, ${c.y}) of site ${site.siteId} (plate ${site.plate}, well ${site.well}, site ${site.site}) is outside its ${width}x${height} image; ` +
      `the ${loc.columns.x}/${loc.columns.y} values must lie in the image (check the table belongs to these images, and their size).`,
  );
}

/** Short description for notices: `Nuclei.csv (1,234 centres, 48 sites)`. */
export function describeLocations(loc: CellLocations): string {
  let n = 0;
  for (const v of loc.bySite.values()) n += v.length;
  return `${loc.files.length === 1 ? basename(loc.source) : loc.source} (${n.toLocaleString('en')} centres, ${loc.bySite.size} sites)`;
}
