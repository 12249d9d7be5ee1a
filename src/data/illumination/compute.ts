/**
 * `data.illumination: compute`: an illumination function per plate and channel estimated from the
 * plate's own images (estimate.ts), written where a user can inspect and reuse them:
 *
 *   <dir>/_ben_illumination.json                      marker: what was computed, from what
 *   <dir>/<experiment>/<plate>/<plate>_Illum<Ch>.npy  one float32 function per plate and channel
 *   <dir>/illumination.csv                           LoadData CSV: every site, its images and its
 *                                                    functions (FileName_/PathName_Illum<Ch>)
 *
 * The CSV reads back as a data set with `--illumination loaddata` (same sites, same correction).
 * A folder computed from the same sites with the same settings is reused, not recomputed.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { markerFile, withAtomicOutput } from '../../util/atomic.ts';
import { createProgress } from '../../util/progress.ts';
import { UserError } from '../../util/errors.ts';
import { toCsv } from '../csv.ts';
import type { Dataset } from '../image-dataset.ts';
import { encodeNpy } from '../npy.ts';
import { maxSampleValue } from '../preprocess.ts';
import { plateKey, type SiteRecord } from '../types.ts';
import { automaticFilterSize, illuminationFunction, medianRadius } from './estimate.ts';
import type { IlluminationRecord } from './record.ts';

/** The marker file of a folder of computed functions. */
export const ILLUMINATION_MARKER = '_ben_illumination.json';

/** The LoadData-style CSV of a folder of computed functions. */
export const ILLUMINATION_CSV = 'illumination.csv';

/** Options of {@link computeIllumination}. */
export interface ComputeIlluminationOptions {
  /** The folder the functions are written to (replaced only when it carries our marker). */
  dir: string;
  /** CellProfiler's smoothing filter size in px (default automatic: min(30, max(H, W) / 40)). */
  filterSize?: number;
  /** Paths the command reads (never replaced). */
  inputs?: readonly string[];
  /** Called after each image averaged, with the images done and the total (else a progress bar). */
  onImage?: (done: number, total: number) => void;
  /** No progress bar. */
  quiet?: boolean;
  /**
   * Only reuse functions already computed in `dir` from the same sites (an error otherwise): for
   * shards of one job, which must not all compute and write the same folder.
   */
  reuseOnly?: boolean;
  log?: (line: string) => void;
}

/** A file-system-safe path component. */
const safe = (s: string) => (s.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+$/, '_') || '_');

/** What identifies a computation: the sites (by id), their shape and the filter. */
function fingerprint(ds: Dataset, filterSize: number): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ root: resolve(ds.root), layout: ds.layout, channels: ds.channels, height: ds.height, width: ds.width, dtype: ds.dtype, filterSize }));
  for (const r of ds.rows) h.update(`${r.siteId}\u0000${r.paths.join('\u0000')}\n`);
  return h.digest('hex');
}

/** The marker's content. */
interface Marker {
  format: string;
  version: number;
  method: string;
  filterSize: number;
  radius: number;
  fingerprint: string;
  plates: Record<string, { images: number; files: Record<string, string> }>;
}

/**
 * Estimates the functions of every plate of `ds` (the images as stored: no intensity scaling),
 * writes them (see the module comment) and returns `ds`'s rows each pointing at its plate's
 * functions, with the record for outputs.
 */
export async function computeIllumination(ds: Dataset, o: ComputeIlluminationOptions): Promise<{ rows: SiteRecord[]; record: IlluminationRecord }> {
  const H = ds.height, W = ds.width, C = ds.channels.length;
  const filterSize = o.filterSize ?? automaticFilterSize(H, W);
  const radius = medianRadius(filterSize);
  const fp = fingerprint(ds, filterSize);
  const dir = o.dir;
  const groups = [...ds.groups(['experiment', 'plate']).values()];
  const relFile = (row: SiteRecord, c: number) => join(...plateKey(row).split('/').map(safe), `${safe(row.plate)}_Illum${safe(ds.channels[c])}.npy`);
  const record = (plates: Marker['plates'], note?: string): IlluminationRecord => ({
    mode: 'compute',
    applied: true,
    source: dir,
    csv: join(dir, ILLUMINATION_CSV),
    filterSize,
    radius,
    plates: Object.fromEntries(Object.entries(plates).map(([k, p]) => [k, Object.fromEntries(Object.entries(p.files).map(([ch, f]) => [ch, join(dir, f)]))])),
    files: Object.values(plates).reduce((s, p) => s + Object.keys(p.files).length, 0),
    ...(note ? { note } : {}),
  });
  const pointed = (plates: Marker['plates']) =>
    ds.rows.map((r) => ({ ...r, illumination: ds.channels.map((ch) => resolve(dir, plates[plateKey(r)].files[ch])) }));

  const markerPath = join(dir, ILLUMINATION_MARKER);
  if (existsSync(markerPath)) {
    try {
      const m = JSON.parse(readFileSync(markerPath, 'utf8')) as Marker;
      const complete = m.fingerprint === fp && Object.values(m.plates).every((p) => Object.values(p.files).every((f) => existsSync(join(dir, f))));
      if (complete) {
        o.log?.(`illumination: reusing the functions computed from the same ${ds.size} sites in ${dir}`);
        return { rows: pointed(m.plates), record: record(m.plates, `reused the functions computed earlier in ${dir}`) };
      }
    } catch {
      // An unreadable marker: compute again (the folder is still ours to replace).
    }
  }

  if (o.reuseOnly) {
    throw new UserError(
      `${dir} holds no illumination functions computed from these ${ds.size} sites: shards must not each compute them. ` +
        `Compute them once (ben data info DATA --illumination compute --illumination-dir ${dir}), then give every shard --illumination-dir ${dir}.`,
    );
  }
  const s = 1 / maxSampleValue(ds.dtype);
  const plates: Marker['plates'] = {};
  // Every image of every plate is read once: a long pass on a real screen, so it shows progress.
  const bar = o.onImage ? undefined : createProgress({ label: 'illumination (mean image per plate)', total: ds.size, unit: 'img', quiet: o.quiet });
  const functions: { file: string; data: Float32Array }[] = [];
  let done = 0;
  for (const rows of groups) {
    const first = ds.rows[rows[0]];
    const sums = Array.from({ length: C }, () => new Float64Array(H * W));
    for (const i of rows) {
      const px = await ds.images.get(i);
      for (let c = 0; c < C; c++) {
        const sum = sums[c];
        for (let p = 0, q = c; p < H * W; p++, q += C) sum[p] += px[q] * s;
      }
      o.onImage?.(++done, ds.size);
      bar?.tick(1);
    }
    const files: Record<string, string> = {};
    for (let c = 0; c < C; c++) {
      const mean = sums[c];
      for (let p = 0; p < H * W; p++) mean[p] /= rows.length;
      const file = relFile(first, c);
      functions.push({ file, data: illuminationFunction(mean, H, W, filterSize) });
      files[ds.channels[c]] = file;
    }
    plates[plateKey(first)] = { images: rows.length, files };
  }
  bar?.stop();

  const marker: Marker = {
    format: 'ben-ssl illumination functions',
    version: 1,
    method: 'CellProfiler CorrectIlluminationCalculate: Regular intensities, All images of a plate, Median Filter, Rescale Yes (robust minimum, 2nd percentile)',
    filterSize,
    radius,
    fingerprint: fp,
    plates,
  };
  await withAtomicOutput(
    dir,
    async (tmp) => {
      await mkdir(tmp, { recursive: true });
      for (const f of functions) {
        await mkdir(dirname(join(tmp, f.file)), { recursive: true });
        await writeFile(join(tmp, f.file), encodeNpy(f.data, [H, W]));
      }
      await writeFile(join(tmp, ILLUMINATION_CSV), illuminationCsv(ds, plates));
      await writeFile(join(tmp, ILLUMINATION_MARKER), JSON.stringify(marker, null, 1) + '\n');
    },
    { marker: markerFile(ILLUMINATION_MARKER), markerName: ILLUMINATION_MARKER, inputs: o.inputs ?? [ds.root], flag: 'the illumination folder' },
  );
  o.log?.(`illumination: ${functions.length} functions (${groups.length} plates x ${C} channels, filter size ${+filterSize.toFixed(2)} px, median radius ${radius}) written to ${dir}`);
  return { rows: pointed(plates), record: record(plates) };
}

/**
 * The LoadData CSV of the data set with the computed functions: one row per site with its
 * metadata (`Metadata_Experiment`, `Plate`, `Well`, `Site`, `CellType`, `Label`, `WellType`,
 * `Split`, then the other `Metadata_*` the reader kept), its images (`FileName_<Ch>` /
 * `PathName_<Ch>`, absolute, when the site has one file per channel) and its functions
 * (`FileName_Illum<Ch>` / `PathName_Illum<Ch>`, relative to the CSV's folder).
 */
function illuminationCsv(ds: Dataset, plates: Marker['plates']): string {
  const ours = ['Metadata_Experiment', 'Metadata_Plate', 'Metadata_Well', 'Metadata_Site', 'Metadata_CellType', 'Metadata_Label', 'Metadata_WellType', 'Metadata_Split'];
  const extras = [...new Set(ds.rows.flatMap((r) => Object.keys(r.extra)))].filter((k) => k.startsWith('Metadata_') && !ours.includes(k));
  const perChannel = ds.rows.every((r) => r.paths.length === ds.channels.length);
  const cols = [
    ...ours,
    ...extras,
    ...(perChannel ? ds.channels.flatMap((ch) => [`FileName_${ch}`, `PathName_${ch}`]) : []),
    ...ds.channels.flatMap((ch) => [`FileName_Illum${ch}`, `PathName_Illum${ch}`]),
  ];
  const rows = ds.rows.map((r) => {
    const p = plates[plateKey(r)].files;
    return [
      r.experiment, r.plate, r.well, r.site, r.cellType, r.label, r.wellType, r.split,
      ...extras.map((k) => r.extra[k] ?? ''),
      ...(perChannel ? r.paths.flatMap((f) => [basename(f), resolve(dirname(f))]) : []),
      ...ds.channels.flatMap((ch) => [basename(p[ch]), dirname(p[ch])]),
    ];
  });
  return toCsv(cols, rows);
}
