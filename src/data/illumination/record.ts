/** How a data set's illumination was corrected, as summaries and outputs record it. */

/** The illumination modes (recipe `data.illumination`, `--illumination`). */
export const ILLUMINATION_MODES = ['loaddata', 'compute', 'none'] as const;

/**
 * `loaddata`: divide each image by the function its metadata names (CellProfiler's
 * CorrectIlluminationApply, "Divide"); `compute`: estimate the functions per plate and channel
 * from the images, then divide; `none`: images as stored.
 */
export type IlluminationMode = (typeof ILLUMINATION_MODES)[number];

/** What was done, recorded in `ben data info`, the Parquet key-value metadata and run.json. */
export interface IlluminationRecord {
  mode: IlluminationMode;
  /** Whether the images are divided by the functions (false: metadata only, or mode none). */
  applied: boolean;
  /** loaddata: the metadata file naming the functions; compute: the folder they were written to. */
  source?: string;
  /** compute: the LoadData-style CSV that points at the written functions. */
  csv?: string;
  /** compute: CellProfiler's smoothing filter size (px) and the median disk radius it gives. */
  filterSize?: number;
  radius?: number;
  /** Function file of each channel, per plate key (a plate whose sites name several: the first). */
  plates: Record<string, Record<string, string>>;
  /** Distinct function files. */
  files: number;
  /** Anything a user should know (functions named but not applied, reused files...). */
  note?: string;
}

/** The record of a data set without correction. */
export const NO_ILLUMINATION: IlluminationRecord = { mode: 'none', applied: false, plates: {}, files: 0 };
