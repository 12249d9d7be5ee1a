/**
 * A profile table as pycytominer and copairs read it: one row per profile (image, site or well),
 * string `Metadata_*` columns and float32 feature columns (everything not `Metadata_*`).
 * Our embeddings (`emb_0000 ...`) and CellProfiler profiles alike.
 */
export interface ProfileTable {
  /** Number of rows (profiles). */
  n: number;
  /** Number of feature columns. */
  d: number;
  /** Metadata columns by full name (e.g. `Metadata_Plate`), each of length n, as strings. */
  meta: Record<string, string[]>;
  /** Feature column names, length d. */
  featureNames: string[];
  /** Features, row-major [n, d]. */
  features: Float32Array;
  /** Key-value metadata carried with the table (model, recipe, normalization mode...). */
  keyValue?: Record<string, string>;
}

/** Row `i`'s features as a view (no copy). */
export function rowOf(t: ProfileTable, i: number): Float32Array {
  return t.features.subarray(i * t.d, (i + 1) * t.d);
}
