/**
 * A few named columns of a CSV, CSV.gz or Parquet table, values as written (numbers stay float64,
 * text stays text): for tables read for their keys and coordinates rather than as profiles
 * (CellProfiler's per-object and per-image tables hold ~1,400 columns; only the picked ones are
 * kept, and Parquet reads only those).
 */
import { readFile, stat } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { parse } from 'csv-parse/sync';
import { DataError, isUserError, UserError } from '../util/errors.ts';
import { decodeText } from '../util/text.ts';

/** The picked columns of a table. */
export interface PickedColumns {
  path: string;
  /** Every column name of the file, in file order. */
  names: string[];
  /** Rows. */
  n: number;
  /** The picked columns by name. */
  columns: Map<string, (string | number | null)[]>;
  /** How to name row `i` (0-based) in a message: `line 12` of a CSV, `row 11` of a Parquet file. */
  rowLabel(i: number): string;
}

/** Whether `path` names a Parquet file. */
export function isParquetPath(path: string): boolean {
  return /\.(parquet|pq)$/i.test(path);
}

/** The header of a table (column names), without its rows. */
export async function tableColumnNames(path: string): Promise<string[]> {
  return (await readTableColumns(path, () => [])).names;
}

/**
 * Reads the columns `pick` chooses from the file's column names. A missing file or one that does
 * not parse is a UserError naming it.
 */
export async function readTableColumns(path: string, pick: (names: readonly string[]) => string[]): Promise<PickedColumns> {
  const st = await stat(path).catch(() => undefined);
  if (!st) throw new UserError(`${path} does not exist; name a CSV, CSV.gz or Parquet file.`);
  if (!st.isFile()) throw new UserError(`${path} is not a file; name a CSV, CSV.gz or Parquet file.`);
  return isParquetPath(path) ? readParquet(path, pick) : readCsvPicked(path, pick);
}

async function readCsvPicked(path: string, pick: (names: readonly string[]) => string[]): Promise<PickedColumns> {
  let buf = await readFile(path);
  if (/\.gz$/i.test(path) || (buf[0] === 0x1f && buf[1] === 0x8b)) {
    try {
      buf = gunzipSync(buf);
    } catch (e) {
      throw new UserError(`${path} is not a valid gzip file (${(e as Error).message}).`);
    }
  }
  let rows: string[][];
  try {
    rows = parse(decodeText(buf, path), { relax_column_count: false, skip_empty_lines: true, bom: true, trim: true }) as string[][];
  } catch (e) {
    if (isUserError(e)) throw e;
    throw new DataError(`Cannot parse CSV ${path}: ${(e as Error).message}. Fix the file (one header row, the same number of fields on every row).`);
  }
  if (rows.length === 0) throw new UserError(`CSV ${path} is empty; it needs a header row.`);
  const names = rows[0];
  const columns = new Map<string, (string | number | null)[]>();
  for (const name of pick(names)) {
    const c = names.indexOf(name);
    if (c < 0) continue;
    columns.set(name, rows.slice(1).map((r) => r[c]));
  }
  return { path, names, n: rows.length - 1, columns, rowLabel: (i) => `line ${i + 2}` };
}

async function readParquet(path: string, pick: (names: readonly string[]) => string[]): Promise<PickedColumns> {
  const { parquetMetadataAsync, parquetSchema, parquetRead } = await import('hyparquet');
  // Every codec other writers use (hyparquet itself has Snappy only).
  const { compressors } = await import('hyparquet-compressors');
  const b = await readFile(path);
  const file = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  try {
    const metadata = await parquetMetadataAsync(file);
    const names = parquetSchema(metadata).children.map((c) => c.element.name);
    const n = Number(metadata.num_rows);
    const wanted = pick(names).filter((nm) => names.includes(nm));
    const columns = new Map<string, (string | number | null)[]>(wanted.map((nm) => [nm, new Array(n).fill(null)]));
    if (wanted.length > 0) {
      await parquetRead({
        file,
        metadata,
        compressors,
        columns: wanted,
        onChunk: ({ columnName, columnData, rowStart }) => {
          const dst = columns.get(columnName);
          if (!dst) return;
          for (let i = 0; i < columnData.length; i++) {
            const v = columnData[i] as unknown;
            dst[rowStart + i] = v === null || v === undefined ? null : typeof v === 'bigint' ? Number(v) : (v as string | number);
          }
        },
      });
    }
    return { path, names, n, columns, rowLabel: (i) => `row ${i + 1}` };
  } catch (e) {
    if (isUserError(e)) throw e;
    throw new UserError(`Cannot read Parquet ${path}: ${(e as Error).message}`);
  }
}
