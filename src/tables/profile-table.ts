import { UserError } from '../util/errors.ts';

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

/** The columns that identify a well in a profile table (the table form of the data set's well key). */
export const WELL_COLUMNS = ['Metadata_Experiment', 'Metadata_Plate', 'Metadata_Well'];

/** Row `i`'s features as a view (no copy). */
export function rowOf(t: ProfileTable, i: number): Float32Array {
  return t.features.subarray(i * t.d, (i + 1) * t.d);
}

/**
 * The metadata column `name` of `t`; a {@link UserError} lists the available `Metadata_*` columns
 * when it is missing. `Metadata_` may be left out of `name` (`Plate` finds `Metadata_Plate`).
 */
export function metaColumn(t: ProfileTable, name: string): string[] {
  const col = t.meta[name] ?? t.meta[`Metadata_${name}`];
  if (col === undefined) {
    throw new UserError(
      `Metadata column "${name}" not found. Available: ${Object.keys(t.meta).join(', ') || '(none)'}. ` +
        `Name one of these (the "Metadata_" prefix may be left out).`,
    );
  }
  return col;
}

/** The full name of metadata column `name` (see {@link metaColumn}). */
export function metaName(t: ProfileTable, name: string): string {
  if (name in t.meta) return name;
  metaColumn(t, name);
  return `Metadata_${name}`;
}

/** A new table holding rows `rows` of `t` (in that order); features and metadata are copied. */
export function selectRows(t: ProfileTable, rows: ArrayLike<number>): ProfileTable {
  const m = rows.length;
  const features = new Float32Array(m * t.d);
  for (let i = 0; i < m; i++) features.set(rowOf(t, rows[i]), i * t.d);
  const meta: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(t.meta)) meta[k] = Array.from({ length: m }, (_, i) => v[rows[i]]);
  return { n: m, d: t.d, meta, featureNames: t.featureNames, features, keyValue: t.keyValue };
}

/** Row indices of `t` for which `keep(i)` is true. */
export function filterRows(t: ProfileTable, keep: (i: number) => boolean): number[] {
  const out: number[] = [];
  for (let i = 0; i < t.n; i++) if (keep(i)) out.push(i);
  return out;
}

/**
 * Integer codes of the combined values of `columns` per row (equal codes = equal values in every
 * column), and the distinct keys. Values are compared as strings, so two empty values are equal.
 */
export function groupCodes(t: ProfileTable, columns: string[]): { codes: Int32Array; keys: string[][] } {
  const cols = columns.map((c) => metaColumn(t, c));
  const codes = new Int32Array(t.n);
  const index = new Map<string, number>();
  const keys: string[][] = [];
  for (let i = 0; i < t.n; i++) {
    const vals = cols.map((c) => c[i]);
    const key = JSON.stringify(vals);
    let code = index.get(key);
    if (code === undefined) {
      code = keys.length;
      index.set(key, code);
      keys.push(vals);
    }
    codes[i] = code;
  }
  return { codes, keys };
}

/**
 * One metadata column naming a group of several columns (e.g. `[Experiment, Plate]`, whose plate
 * numbers repeat in every experiment): for one column, its full name and `t` unchanged; for several,
 * a new column `Metadata_<A>_<B>` holding each row's tuple joined by `/` (JSON when `/` would make
 * two tuples equal), added to a shallow copy of `t`. Equal values = equal in every column.
 */
export function withGroupKey(t: ProfileTable, columns: string[]): { table: ProfileTable; column: string } {
  if (columns.length === 0) throw new UserError('A grouping option names no column.');
  const names = columns.map((c) => metaName(t, c));
  if (names.length === 1) return { table: t, column: names[0] };
  let column = `Metadata_${names.map((c) => c.replace(/^Metadata_/, '')).join('_')}`;
  while (column in t.meta) column += '_key';
  const { codes, keys } = groupCodes(t, names);
  let labels = keys.map((k) => k.join('/'));
  if (new Set(labels).size < keys.length) labels = keys.map((k) => JSON.stringify(k));
  return { table: { ...t, meta: { ...t.meta, [column]: Array.from(codes, (c) => labels[c]) } }, column };
}

/** A comma-separated list of columns (`Experiment,Plate`) as names; empty entries dropped. */
export function parseColumnList(s: string | string[] | undefined): string[] | undefined {
  if (s === undefined) return undefined;
  const parts = (Array.isArray(s) ? s : [s]).flatMap((x) => x.split(',')).map((x) => x.trim()).filter(Boolean);
  return parts;
}
