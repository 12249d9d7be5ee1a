import { closeSync, openSync, readSync, fstatSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ParquetWriter, fileWriter } from 'hyparquet-writer';
import { parquetMetadata } from 'hyparquet';
import type { ProfileTable } from './profile-table.ts';
import { tempPathFor, trackTemp, untrackTemp } from '../util/atomic.ts';
import { UserError } from '../util/errors.ts';

/**
 * Parquet output of profile tables: one row per profile, the `Metadata_*` columns as
 * UTF8 strings, then the float32 feature columns (`emb_0000 ...`), plus key-value metadata. The
 * layout pycytominer, copairs, DuckDB, pandas/pyarrow read directly.
 *
 * Writer: hyparquet-writer (pure JS, columnar). `npm run bench -- export` measured it against
 * parquetjs-lite (the writer first named for this) and apache-arrow + parquet-wasm; it was the
 * fastest by far with the smallest memory footprint, and DuckDB, hyparquet and arrow-rs read
 * its files.
 */

/**
 * Metadata columns written as numbers (INT32) when every value is an integer: the site number and
 * the aggregation count. Users filter and sort them numerically (pycytominer, DuckDB); ids that
 * look numeric but are names (a plate "1") stay strings.
 */
export const INTEGER_META_COLUMNS: readonly string[] = ['Metadata_Site', 'Metadata_Count'];

/** Options of {@link ProfileParquetWriter} and {@link writeProfilesParquet}. */
export interface ProfileParquetOptions {
  /** Metadata columns written as INT32 (default {@link INTEGER_META_COLUMNS}); a column with a non-integer value is refused. */
  integerColumns?: readonly string[];
  /** Key-value metadata stored in the file footer (model, recipe, normalization mode...). */
  keyValue?: Record<string, string>;
  /** Rows per row group (default 10 000; one row group is the only transposed copy held). */
  rowGroupSize?: number;
  /** Codec of the `Metadata_*` string columns (default SNAPPY). */
  codec?: 'SNAPPY' | 'UNCOMPRESSED';
  /**
   * Codec of the float feature columns (default UNCOMPRESSED: embeddings are incompressible
   * floats; SNAPPY costs time for <0.1 % size, measured by `npm run bench -- export`).
   */
  featureCodec?: 'SNAPPY' | 'UNCOMPRESSED';
  /** Min/max statistics on feature columns (default false; always on for `Metadata_*`, for filters). */
  featureStatistics?: boolean;
  /** Called after each row group reaches the (temporary) file, with the rows written so far. */
  onRowGroup?: (rowsWritten: number) => void | Promise<void>;
}

/** What a finished write produced. */
export interface ProfileParquetSummary {
  path: string;
  rows: number;
  rowGroups: number;
  metaColumns: string[];
  featureColumns: string[];
}

/** Column layout of a profile Parquet file. */
export interface ProfileColumns {
  /** `Metadata_*` column names, in file order. */
  meta: string[];
  /** Feature column names, in file order. */
  features: string[];
}

/** Zero-padded embedding column names `emb_0000 ... emb_{d-1}` (pycytominer: not `Metadata_*` = feature). */
export function embeddingColumnNames(d: number): string[] {
  const width = Math.max(4, String(d - 1).length);
  return Array.from({ length: d }, (_, j) => `emb_${String(j).padStart(width, '0')}`);
}

/** Throws a UserError when `cols` is not a valid profile layout. */
function checkColumns(cols: ProfileColumns, where: string): void {
  const seen = new Set<string>();
  for (const m of cols.meta) {
    if (!m.startsWith('Metadata_')) throw new UserError(`${where}: metadata column "${m}" must start with "Metadata_"`);
  }
  for (const f of cols.features) {
    if (f.startsWith('Metadata_')) throw new UserError(`${where}: feature column "${f}" must not start with "Metadata_"`);
  }
  for (const c of [...cols.meta, ...cols.features]) {
    if (seen.has(c)) throw new UserError(`${where}: column "${c}" appears twice; column names must be unique`);
    seen.add(c);
  }
}

/** Throws when `t` is inconsistent or its columns differ from `cols`. */
function checkChunk(t: ProfileTable, cols: ProfileColumns, where: string): void {
  if (t.features.length !== t.n * t.d) {
    throw new Error(`${where}: features has ${t.features.length} values, expected n*d = ${t.n}*${t.d}`);
  }
  if (t.d !== cols.features.length || t.featureNames.some((f, j) => f !== cols.features[j])) {
    throw new Error(`${where}: feature columns differ from the file's`);
  }
  const keys = Object.keys(t.meta);
  if (keys.length !== cols.meta.length || cols.meta.some((m) => !(m in t.meta))) {
    throw new Error(`${where}: metadata columns [${keys.join(', ')}] differ from the file's [${cols.meta.join(', ')}]`);
  }
  for (const m of cols.meta) {
    const col = t.meta[m];
    if (col.length !== t.n) throw new Error(`${where}: ${m} has ${col.length} values for ${t.n} rows`);
    for (let i = 0; i < col.length; i++) {
      if (typeof col[i] !== 'string') throw new Error(`${where}: ${m} row ${i} is not a string (${String(col[i])})`);
    }
  }
}

/**
 * Streams profile rows into a Parquet file, one row group at a time, and publishes it
 * atomically: rows go to a temporary file beside `path` that is renamed on {@link close}; on
 * {@link abort} or an error it is removed, so a failed or killed export never leaves a partial
 * file at `path`. On SIGINT/SIGTERM the temporary file is removed too (a SIGKILL leaves it, as a
 * hidden `.name.pid.hex.tmp` beside `path`, never `path` itself).
 *
 * Memory: appended chunks are referenced, not copied, until a row group is full; then one
 * columnar copy of that row group ([rowGroupSize] per column) is encoded and dropped.
 * Do not modify a chunk after appending it and before the next row group is flushed.
 */
export class ProfileParquetWriter {
  private pending: ProfileTable[] = [];
  private pendingRows = 0;
  private rowsWritten = 0;
  private rowGroups = 0;
  private done = false;
  private colBuf: Float32Array[] | undefined;
  private colBufRows = 0;

  private constructor(
    readonly path: string,
    readonly columns: ProfileColumns,
    private readonly tmp: string,
    private readonly pw: ParquetWriter,
    private readonly opts: ProfileParquetOptions,
    private readonly rowGroupSize: number,
    private readonly integer: ReadonlySet<string> = new Set(),
  ) {}

  /** Opens a writer for the given column layout (validated: `Metadata_*` first, unique names). */
  static async open(path: string, columns: ProfileColumns, opts: ProfileParquetOptions = {}): Promise<ProfileParquetWriter> {
    checkColumns(columns, path);
    const rowGroupSize = opts.rowGroupSize ?? 10_000;
    if (!Number.isInteger(rowGroupSize) || rowGroupSize < 1) throw new Error(`rowGroupSize must be a positive integer, got ${rowGroupSize}`);
    await mkdir(dirname(path), { recursive: true });
    const tmp = tempPathFor(path);
    const integer = new Set((opts.integerColumns ?? INTEGER_META_COLUMNS).filter((c) => columns.meta.includes(c)));
    const schema = [
      { name: 'root', num_children: columns.meta.length + columns.features.length },
      ...columns.meta.map((name) =>
        integer.has(name)
          ? { name, type: 'INT32' as const, repetition_type: 'REQUIRED' as const }
          : {
              name,
              type: 'BYTE_ARRAY' as const,
              converted_type: 'UTF8' as const,
              logical_type: { type: 'STRING' as const },
              repetition_type: 'REQUIRED' as const,
            },
      ),
      ...columns.features.map((name) => ({ name, type: 'FLOAT' as const, repetition_type: 'REQUIRED' as const })),
    ];
    try {
      const pw = new ParquetWriter({
        writer: fileWriter(tmp),
        schema,
        codec: opts.codec ?? 'SNAPPY',
        kvMetadata: Object.entries(opts.keyValue ?? {}).map(([key, value]) => ({ key, value })),
        createdBy: PARQUET_CREATED_BY,
      });
      trackTemp(tmp);
      return new ProfileParquetWriter(path, columns, tmp, pw, opts, rowGroupSize, integer);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  }

  /** The temporary file the rows are written to until published. */
  get tempPath(): string {
    return this.tmp;
  }

  /** Rows appended so far (written or pending). */
  get rows(): number {
    return this.rowsWritten + this.pendingRows;
  }

  /**
   * Appends the rows of `chunk` (same columns as the file; e.g. one plate's profiles). Writes
   * every row group that becomes full. On error the temporary file is removed.
   */
  async append(chunk: ProfileTable): Promise<void> {
    if (this.done) throw new Error(`${this.path}: append after close/abort`);
    try {
      checkChunk(chunk, this.columns, this.path);
      if (chunk.n === 0) return;
      this.pending.push(chunk);
      this.pendingRows += chunk.n;
      while (this.pendingRows >= this.rowGroupSize) await this.flushRowGroup(this.rowGroupSize);
    } catch (e) {
      await this.abort();
      throw e;
    }
  }

  /**
   * Writes the remaining rows and the footer, then renames the temporary file to `path`. With
   * `publish: false` the finished file stays at the temporary path ({@link tempPath}), for the
   * caller to publish together with others (a pair of files appears together or not at all).
   */
  async close(opts: { publish?: boolean } = {}): Promise<ProfileParquetSummary> {
    if (this.done) throw new Error(`${this.path}: close after close/abort`);
    try {
      if (this.pendingRows > 0) await this.flushRowGroup(this.pendingRows);
      await this.pw.finish();
      if (opts.publish !== false) {
        await rename(this.tmp, this.path);
        untrackTemp(this.tmp);
      }
      this.done = true;
    } catch (e) {
      await this.abort();
      throw e;
    }
    return {
      path: this.path,
      rows: this.rowsWritten,
      rowGroups: this.rowGroups,
      metaColumns: [...this.columns.meta],
      featureColumns: [...this.columns.features],
    };
  }

  /** Drops the output: removes the temporary file; nothing appears at `path`. Idempotent. */
  async abort(): Promise<void> {
    this.done = true;
    this.pending = [];
    this.pendingRows = 0;
    await rm(this.tmp, { force: true });
    untrackTemp(this.tmp);
  }

  /** Encodes the first `rows` pending rows as one row group. */
  private async flushRowGroup(rows: number): Promise<void> {
    const { meta, features } = this.columns;
    const metaOut = meta.map(() => new Array<string>(rows));
    // Column buffers are reused across row groups (hyparquet-writer copies what it encodes).
    if (!this.colBuf || this.colBufRows < rows) {
      this.colBuf = features.map(() => new Float32Array(rows));
      this.colBufRows = rows;
    }
    const featOut = this.colBuf.map((c) => (c.length === rows ? c : c.subarray(0, rows)));
    let k = 0;
    while (k < rows) {
      const c = this.pending[0];
      const take = Math.min(c.n, rows - k);
      for (let m = 0; m < meta.length; m++) {
        const src = c.meta[meta[m]], dst = metaOut[m];
        for (let i = 0; i < take; i++) dst[k + i] = src[i];
      }
      // Row-major [n, d] -> one Float32Array per column.
      const d = c.d, f = c.features;
      for (let i = 0; i < take; i++) {
        const base = i * d;
        for (let j = 0; j < d; j++) featOut[j][k + i] = f[base + j];
      }
      k += take;
      if (take === c.n) this.pending.shift();
      else this.pending[0] = sliceRows(c, take, c.n);
    }
    this.pendingRows -= rows;
    await this.pw.write({
      columnData: [
        ...meta.map((name, m) => ({ name, data: this.integer.has(name) ? toInt32(metaOut[m], name, this.path) : metaOut[m] })),
        ...features.map((name, j) => ({
          name,
          data: featOut[j],
          codec: this.opts.featureCodec ?? 'UNCOMPRESSED',
          statistics: this.opts.featureStatistics ?? false,
        })),
      ],
      rowGroupSize: rows,
    });
    this.rowsWritten += rows;
    this.rowGroups++;
    await this.opts.onRowGroup?.(this.rowsWritten);
  }
}

/** A metadata column of integer strings as Int32Array (a UserError names the column and the value otherwise). */
function toInt32(col: string[], name: string, path: string): Int32Array {
  const out = new Int32Array(col.length);
  for (let i = 0; i < col.length; i++) {
    const v = Number(col[i]);
    if (col[i] === '' || !Number.isInteger(v) || Math.abs(v) > 2 ** 31 - 1) {
      throw new UserError(`${path}: ${name} "${col[i]}" is not an integer, but ${name} is written as a number; fix the value or pass integerColumns without ${name}.`);
    }
    out[i] = v;
  }
  return out;
}

/** Rows [r0, r1) of `t` as a table of views (features not copied). */
export function sliceRows(t: ProfileTable, r0: number, r1: number): ProfileTable {
  const meta: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(t.meta)) meta[k] = v.slice(r0, r1);
  return {
    n: r1 - r0,
    d: t.d,
    meta,
    featureNames: t.featureNames,
    features: t.features.subarray(r0 * t.d, r1 * t.d),
    keyValue: t.keyValue,
  };
}

/**
 * Writes `table` to `path` as Parquet (one row per profile; `Metadata_*` UTF8 columns in the
 * table's order, then float32 features), atomically. Key-value metadata is `table.keyValue`
 * overridden by `opts.keyValue`.
 */
export async function writeProfilesParquet(
  path: string,
  table: ProfileTable,
  opts: ProfileParquetOptions & { publish?: boolean } = {},
): Promise<ProfileParquetSummary & { tempPath: string }> {
  const { publish, ...writeOpts } = opts;
  const w = await ProfileParquetWriter.open(
    path,
    { meta: Object.keys(table.meta), features: table.featureNames },
    { ...writeOpts, keyValue: { ...table.keyValue, ...writeOpts.keyValue } },
  );
  await w.append(table);
  return { ...(await w.close({ publish })), tempPath: w.tempPath };
}

/** The `created_by` our writer puts in every Parquet footer: the marker of our outputs. */
export const PARQUET_CREATED_BY = 'ben-ssl';

/**
 * Whether `path` is a Parquet file written by ben-ssl (its footer's `created_by`), read from the
 * footer alone. Any other file, or an unreadable one, is not ours and is never replaced.
 */
export function isBenParquet(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const size = fstatSync(fd).size;
    if (size < 12) return false;
    const tail = Buffer.alloc(8);
    readSync(fd, tail, 0, 8, size - 8);
    if (tail.toString('latin1', 4, 8) !== 'PAR1') return false;
    const len = tail.readUInt32LE(0);
    if (len + 8 > size) return false;
    const buf = Buffer.alloc(len + 8);
    readSync(fd, buf, 0, len + 8, size - len - 8);
    const md = parquetMetadata(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
    return md.created_by === PARQUET_CREATED_BY;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
