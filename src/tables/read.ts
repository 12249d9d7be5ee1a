import { readFile, stat } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { parse } from 'csv-parse/sync';
import { DataError, isUserError, UserError } from '../util/errors.ts';
import { decodeText, type TextEncoding } from '../util/text.ts';
import type { ProfileTable } from './profile-table.ts';

/** Options of {@link readProfileTable}. */
export interface ReadProfileOptions {
  /** Prefix of metadata columns (pycytominer convention). Default `Metadata_`. */
  metaPrefix?: string;
  /** Drop feature columns whose value is the same in every row. Default false. */
  dropConstant?: boolean;
  /**
   * Feature columns holding a missing value (NaN, an empty cell, a Parquet null): `true` drops
   * them (named in the report); `false` makes one an error naming the column and row (the CLI's
   * `--no-drop-nan`); unset keeps them as NaN values, for callers that handle NaN themselves.
   */
  dropNaN?: boolean;
  /** Extra non-`Metadata_` columns to read as metadata (e.g. `Image_Metadata_Plate`). */
  extraMeta?: string[];
  /** Text encoding of a CSV table (default utf8, checked strictly). */
  encoding?: TextEncoding;
}

/** What {@link readProfileTable} dropped, for the report. */
export interface ReadProfileReport {
  droppedConstant: string[];
  droppedNaN: string[];
}

/**
 * Reads a profile table from CSV, CSV.gz or Parquet: `Metadata_*` columns become strings,
 * every other column a float32 feature (pycytominer/copairs convention).
 * Throws a {@link UserError} for a missing file or a non-numeric feature cell.
 */
export async function readProfileTable(
  path: string,
  opts: ReadProfileOptions = {},
): Promise<{ table: ProfileTable; report: ReadProfileReport }> {
  let st;
  try {
    st = await stat(path);
  } catch {
    throw new UserError(`Profile table "${path}" does not exist. Pass a CSV, CSV.gz or Parquet file.`);
  }
  if (st.isDirectory()) throw new UserError(`Profile table "${path}" is a folder; pass a CSV, CSV.gz or Parquet file inside it (e.g. ${path}/embeddings.parquet).`);
  const cols = /\.parquet$|\.pq$/i.test(path) ? await readParquetColumns(path) : await readCsvColumns(path, opts);
  return columnsToTable(path, cols, opts);
}

/** Raw columns as read from a file: names, per-column values (strings or numbers), key-value metadata. */
interface RawColumns {
  names: string[];
  n: number;
  values: (ArrayLike<unknown>)[];
  keyValue?: Record<string, string>;
}

async function readCsvColumns(path: string, opts: ReadProfileOptions): Promise<RawColumns> {
  let buf = await readFile(path);
  if (/\.gz$/i.test(path)) {
    try {
      buf = gunzipSync(buf);
    } catch (e) {
      throw new UserError(`"${path}" is not a valid gzip file (${(e as Error).message}).`);
    }
  }
  let rows: string[][];
  try {
    rows = parse(decodeText(buf, path, opts.encoding, '--encoding'), { relax_column_count: false, skip_empty_lines: true, bom: true }) as string[][];
  } catch (e) {
    if (isUserError(e)) throw e;
    throw new DataError(`Cannot parse CSV "${path}": ${(e as Error).message}`);
  }
  if (rows.length === 0) throw new UserError(`CSV "${path}" is empty: expected a header row.`);
  const names = rows[0];
  const n = rows.length - 1;
  const values = names.map((_, c) => {
    const col = new Array<string>(n);
    for (let r = 0; r < n; r++) col[r] = rows[r + 1][c];
    return col;
  });
  return { names, n, values };
}

async function readParquetColumns(path: string): Promise<RawColumns> {
  const { parquetRead, parquetMetadataAsync, parquetSchema } = await import('hyparquet');
  // Every codec other writers use (GZIP, ZSTD, Brotli, LZ4, LZ4_RAW; hyparquet has Snappy only).
  const { compressors } = await import('hyparquet-compressors');
  const b = await readFile(path);
  const file = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  let metadata;
  try {
    metadata = await parquetMetadataAsync(file);
  } catch (e) {
    throw new UserError(`Cannot read Parquet "${path}": ${(e as Error).message}`);
  }
  const names = parquetSchema(metadata).children.map((c) => c.element.name);
  const n = Number(metadata.num_rows);
  // Numeric columns go straight into typed arrays (no boxed numbers for 100k x 512 embeddings).
  const values: (unknown[] | Float64Array | undefined)[] = names.map(() => undefined);
  const index = new Map(names.map((nm, i) => [nm, i]));
  try {
    await parquetRead({
      file,
      metadata,
      compressors,
      onChunk: ({ columnName, columnData, rowStart }) => {
        const c = index.get(columnName)!;
        const numeric = ArrayBuffer.isView(columnData) && !(columnData instanceof BigInt64Array) && !(columnData instanceof BigUint64Array);
        values[c] ??= numeric ? new Float64Array(n) : new Array(n);
        const dst = values[c]!;
        if (dst instanceof Float64Array && numeric) dst.set(columnData as ArrayLike<number>, rowStart);
        else for (let i = 0; i < columnData.length; i++) (dst as unknown[])[rowStart + i] = columnData[i];
      },
    });
  } catch (e) {
    throw new UserError(`Cannot read Parquet "${path}": ${(e as Error).message}`);
  }
  const keyValue: Record<string, string> = {};
  for (const kv of metadata.key_value_metadata ?? []) if (kv.value !== undefined) keyValue[kv.key] = kv.value;
  return { names, n, values: values.map((v) => v ?? new Array(n)), keyValue };
}

const MISSING = /^(|nan|na|null|none)$/i;

/**
 * pandas' unnamed index as pyarrow stores it (`df.to_parquet` of a filtered or regrouped frame):
 * pandas' row bookkeeping, neither metadata nor a feature, so it is not read.
 */
export const PANDAS_INDEX = /^__index_level_\d+__$/;

/** The error of a missing feature value when columns holding one are not to be dropped. */
export function missingValueError(path: string, column: string, row: number): UserError {
  return new UserError(
    `"${path}" column "${column}" has a missing value (empty, NaN or null) in row ${row + 1}. ` +
      `Drop feature columns with missing values with --drop-nan (the default), or fill the value in.`,
  );
}

/** A cell as a number: NaN for a missing value, undefined for text that is not a number. */
function toNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v === null || v === undefined) return NaN;
  const s = String(v).trim();
  if (MISSING.test(s)) return NaN;
  const x = Number(s);
  return Number.isNaN(x) ? undefined : x;
}

function columnsToTable(path: string, raw: RawColumns, opts: ReadProfileOptions): { table: ProfileTable; report: ReadProfileReport } {
  const prefix = opts.metaPrefix ?? 'Metadata_';
  const extra = new Set(opts.extraMeta ?? []);
  const meta: Record<string, string[]> = {};
  const featIdx: number[] = [];
  raw.names.forEach((name, c) => {
    if (PANDAS_INDEX.test(name)) return;
    if (name.startsWith(prefix) || extra.has(name)) {
      const src = raw.values[c];
      const col = new Array<string>(raw.n);
      for (let r = 0; r < raw.n; r++) col[r] = src[r] === null || src[r] === undefined ? '' : String(src[r]);
      meta[name] = col;
    } else featIdx.push(c);
  });
  const n = raw.n;
  // Parse each candidate feature column into float64 first, to decide what to drop.
  const keep: { name: string; col: Float64Array }[] = [];
  const report: ReadProfileReport = { droppedConstant: [], droppedNaN: [] };
  for (const c of featIdx) {
    const name = raw.names[c];
    const src = raw.values[c];
    const col = new Float64Array(n);
    let hasNaN = false;
    for (let r = 0; r < n; r++) {
      const v = src[r];
      const x = toNumber(v);
      if (x === undefined) {
        throw new UserError(
          `"${path}" row ${r + 1}, column "${name}": "${String(v)}" is not a number. Every column not starting with "${prefix}" ` +
            `is a feature; rename a metadata column to "${prefix}${name}" (or pass it as extra metadata).`,
        );
      }
      if (Number.isNaN(x)) {
        if (opts.dropNaN === false) throw missingValueError(path, name, r);
        hasNaN = true;
      }
      col[r] = x;
    }
    if (hasNaN) {
      if (opts.dropNaN) {
        report.droppedNaN.push(name);
        continue;
      }
    }
    if (opts.dropConstant && n > 0) {
      let constant = true;
      for (let r = 1; r < n && constant; r++) if (col[r] !== col[0]) constant = false;
      if (constant) {
        report.droppedConstant.push(name);
        continue;
      }
    }
    keep.push({ name, col });
  }
  const d = keep.length;
  const features = new Float32Array(n * d);
  for (let j = 0; j < d; j++) {
    const col = keep[j].col;
    for (let r = 0; r < n; r++) features[r * d + j] = col[r];
  }
  return {
    table: { n, d, meta, featureNames: keep.map((k) => k.name), features, keyValue: raw.keyValue },
    report,
  };
}
