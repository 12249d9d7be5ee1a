/**
 * Illumination correction of a data set (recipe `data.illumination`, `--illumination`): the step
 * between decoding and intensity scaling. `loaddata` divides each image by the functions its
 * metadata names, `compute` estimates them per plate first (compute.ts), `none` leaves the images
 * as stored. Default: `loaddata` when the metadata names functions, else `none`.
 */
import { stat } from 'node:fs/promises';
import { DataError, UserError } from '../../util/errors.ts';
import { Dataset } from '../image-dataset.ts';
import { UnreadImageStore } from '../image-store.ts';
import { plateKey } from '../types.ts';
import { computeIllumination } from './compute.ts';
import { npyPlaneShape } from './functions.ts';
import { NO_ILLUMINATION, type IlluminationMode, type IlluminationRecord } from './record.ts';
import { IlluminationImageStore } from './store.ts';

/** Options of {@link applyIllumination}. */
export interface IlluminationOptions {
  /** Default: `loaddata` when the metadata names functions, else `none`. */
  mode?: IlluminationMode;
  /** compute: CellProfiler's smoothing filter size in px (default automatic, min(30, max(H, W) / 40)). */
  filterSize?: number;
  /** compute: the folder the functions are written to (required for compute). */
  dir?: string;
  /** compute: called after each image averaged (else a progress bar, unless `quiet`). */
  onImage?: (done: number, total: number) => void;
  quiet?: boolean;
  /** compute: only reuse functions already in `dir` (shards of one job). */
  reuseOnly?: boolean;
  log?: (line: string) => void;
}

/** Whether any row of `ds` names an illumination function. */
export function namesFunctions(ds: Dataset): boolean {
  return ds.rows.some((r) => r.illumination?.some(Boolean));
}

/** Function files per plate and channel (the first a plate names), and the number of distinct files. */
function platesOf(ds: Dataset): { plates: IlluminationRecord['plates']; files: number } {
  const plates: IlluminationRecord['plates'] = {};
  const files = new Set<string>();
  for (const r of ds.rows) {
    const p = (plates[plateKey(r)] ??= {});
    ds.channels.forEach((ch, c) => {
      const f = r.illumination?.[c];
      if (!f) return;
      p[ch] ??= f;
      files.add(f);
    });
  }
  return { plates, files: files.size };
}

/**
 * `ds` with its images divided by their illumination functions (see the module comment), the
 * choice and the files recorded in `ds.illumination`. A data set read for its metadata only is
 * returned with the record but nothing read (compute: nothing computed).
 */
export async function applyIllumination(ds: Dataset, o: IlluminationOptions = {}): Promise<Dataset> {
  const named = namesFunctions(ds);
  const mode = o.mode ?? (named ? 'loaddata' : 'none');
  const metadataOnly = ds.images instanceof UnreadImageStore;
  if (mode === 'none') {
    return new Dataset({ ...ds, illumination: { ...NO_ILLUMINATION, ...(named ? { note: `${ds.root} names illumination functions; not applied (data.illumination: none)` } : {}) } });
  }
  if (mode === 'loaddata') {
    if (!named) {
      throw new UserError(
        `data.illumination: loaddata (--illumination loaddata): ${ds.root} names no illumination functions (FileName_Illum<Ch> / PathName_Illum<Ch> or URL_Illum<Ch> columns). ` +
          'Add them, estimate functions from the images with data.illumination: compute (--illumination compute), or use none.',
      );
    }
    for (const r of ds.rows) {
      ds.channels.forEach((ch, c) => {
        if (!r.illumination?.[c]) {
          throw new DataError(`${r.source}: site ${r.siteId} names no illumination function for channel ${ch} (FileName_Illum${ch} / URL_Illum${ch} missing or empty); with data.illumination: loaddata every channel needs one. Fill it in, or set data.illumination: none (--illumination none).`);
        }
      });
    }
    const { plates, files } = platesOf(ds);
    const record: IlluminationRecord = { mode, applied: !metadataOnly, source: ds.root, plates, files };
    if (metadataOnly) return new Dataset({ ...ds, illumination: record });
    await checkFunctionFiles(ds);
    return new Dataset({ ...ds, images: new IlluminationImageStore(ds.images, ds.rows), illumination: record });
  }
  if (metadataOnly) return new Dataset({ ...ds, illumination: { mode, applied: false, plates: {}, files: 0, note: 'not computed: the images were not read' } });
  if (!o.dir) throw new UserError('data.illumination: compute writes the functions it estimates; name the folder with --illumination-dir DIR.');
  const { rows, record } = await computeIllumination(ds, { dir: o.dir, filterSize: o.filterSize, onImage: o.onImage, quiet: o.quiet, reuseOnly: o.reuseOnly, log: o.log });
  return new Dataset({ ...ds, rows, images: new IlluminationImageStore(ds.images, rows), illumination: record });
}

/**
 * Every function file a row names exists, and every `.npy` one (its header) has the images'
 * shape: checked once per file before any work, each error naming the file and a row using it.
 */
async function checkFunctionFiles(ds: Dataset): Promise<void> {
  const firstUse = new Map<string, { row: number; channel: number }>();
  ds.rows.forEach((r, i) => r.illumination?.forEach((f, c) => f && !firstUse.has(f) && firstUse.set(f, { row: i, channel: c })));
  for (const [file, use] of firstUse) {
    const r = ds.rows[use.row];
    const st = await stat(file).catch(() => undefined);
    if (!st?.isFile()) {
      throw new DataError(`Illumination function ${file} (channel ${ds.channels[use.channel]}, ${r.source}) does not exist. Fix the FileName_Illum/PathName_Illum (or URL_Illum, with --url-root) entry, restore the file, or set data.illumination: none.`);
    }
    const shape = await npyPlaneShape(file);
    if (shape && (shape[0] !== ds.height || shape[1] !== ds.width)) {
      const image = r.paths[r.paths.length === ds.channels.length ? use.channel : 0];
      throw new DataError(
        `Illumination function ${file} is ${shape[0]}x${shape[1]} but image ${image} (site ${r.siteId}, ${r.source}) is ${ds.height}x${ds.width}; ` +
          "a function must have its images' shape. Point the row at the function computed for these images, or recompute it.",
      );
    }
  }
}
