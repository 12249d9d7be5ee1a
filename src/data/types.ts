/**
 * Core types of the data layer: one metadata row per imaged site, and the pixel buffers the image
 * stores hand out. Layout-specific readers (readers/) produce these; samplers and the pipeline
 * consume them.
 */
import type { PlaneRef } from './tiff-planes.ts';

/** Role of a well on the plate (RxRx1 `well_type`). */
export type WellType = 'treatment' | 'negative_control' | 'positive_control';

/** The well types, for validation. */
export const WELL_TYPES: readonly WellType[] = ['treatment', 'negative_control', 'positive_control'];

/**
 * One imaged site (field of view) of one well: the unit a sampler draws and the pipeline decodes.
 * Plates are identified by `(experiment, plate)`: the plate field alone need not be unique
 * (RxRx1 numbers plates 1-4 inside each experiment).
 */
export interface SiteRecord {
  /** Unique id of the site, e.g. `HEPG2-01_1_B02_1` (RxRx1 `site_id`). */
  siteId: string;
  /** Experiment (batch) the plate belongs to; '' when the layout has none. */
  experiment: string;
  /** Plate id inside the experiment. */
  plate: string;
  /** Well name, e.g. `B02`. */
  well: string;
  /** Site (field) number inside the well, from 1. */
  site: number;
  /** Cell type (cell line), '' when unknown. */
  cellType: string;
  /** Treatment label (siRNA, compound...), the supervised class. */
  label: string;
  /** Treatment, negative or positive control. */
  wellType: WellType;
  /** Named split (WILDS: train | id_test | val | test; others: from the metadata, else {@link NO_SPLIT}). */
  split: string;
  /**
   * Image files of the site, absolute paths: one multi-channel file (RxRx1-WILDS RGB PNG) or one
   * single-channel file per channel, in channel order (RxRx1 original, CellProfiler LoadData).
   */
  paths: string[];
  /**
   * The plane of each file in `paths` (same order), for multi-page files: LoadData's
   * `Series_<Ch>` / `Frame_<Ch>`. Absent: a file is read whole, its pages as channels.
   */
  planes?: PlaneRef[];
  /**
   * Illumination function of each channel (absolute paths, in channel order; '' where none is
   * named), when the metadata names them (LoadData `FileName_Illum<Ch>`); data/illumination/
   * divides the images by them.
   */
  illumination?: string[];
  /** Other metadata columns as read (e.g. every `Metadata_*` of a LoadData CSV), by column name. */
  extra: Record<string, string>;
  /** Where the row came from, for error messages (`metadata.csv line 12`). */
  source: string;
}

/**
 * Split of the rows of a table that has no split column: every such row is usable for training
 * and embedding, so `Dataset.split(any name)` selects them all.
 */
export const NO_SPLIT = 'all';

/**
 * The plate key of a site: unique in the data set, `<experiment>/<plate>` (`<plate>` when the
 * layout has no experiment). Plate ids alone repeat across experiments (RxRx1 numbers plates 1-4
 * in each); the key is what samplers, plate statistics and the `Metadata_PlateKey` column use.
 */
export function plateKey(row: Pick<SiteRecord, 'experiment' | 'plate'>): string {
  return row.experiment ? `${row.experiment}/${row.plate}` : row.plate;
}

/** Names of the {@link SiteRecord} fields usable as grouping keys. */
export type GroupKey = 'experiment' | 'plate' | 'well' | 'site' | 'cellType' | 'label' | 'wellType' | 'split';

/**
 * Sample type of decoded pixels: 8- and 16-bit unsigned integers as stored; float32 for float
 * images, signed or 32-bit integer samples (held as float32: exact up to 2^24) and
 * illumination-corrected images. Float samples have a full scale of 1, CellProfiler's convention
 * for a corrected image.
 */
export type PixelDType = 'uint8' | 'uint16' | 'float32';

/** A decoded image in HWC order (row-major, channels interleaved). */
export type Pixels = Uint8Array | Uint16Array | Float32Array;

/** A zeroed pixel buffer of `n` samples of `dtype`. */
export function newPixels(dtype: PixelDType, n: number): Pixels {
  return dtype === 'float32' ? new Float32Array(n) : dtype === 'uint16' ? new Uint16Array(n) : new Uint8Array(n);
}

/** Bytes one sample of `dtype` takes (memory budgets). */
export function bytesPerSample(dtype: PixelDType): number {
  return dtype === 'float32' ? 4 : dtype === 'uint16' ? 2 : 1;
}

/** The dtype of a sample buffer. */
export function dtypeOf(px: Pixels): PixelDType {
  return px instanceof Float32Array ? 'float32' : px instanceof Uint16Array ? 'uint16' : 'uint8';
}

/** A row the reader dropped because of bad input (with `skipBad`). */
export interface SkippedSite {
  /** Where the row came from (`metadata.csv line 12`). */
  source: string;
  /** The site id, when known. */
  siteId: string;
  /** The file at fault, when one is. */
  file?: string;
  /** What was wrong. */
  reason: string;
}
