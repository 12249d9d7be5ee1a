/**
 * Profile tables as other tools write Parquet: DuckDB (its own writer, the engine pandas and
 * Polars pipelines often export through) with every codec it has, format V1 and V2 (delta
 * encodings; DuckDB keeps V1 page headers); arrow-rs through parquet-wasm (the Rust
 * implementation of Arrow, the family of pyarrow's C++ writer and Polars' own) with the legacy
 * LZ4 codec, data pages V2, float16 and dictionary-encoded nullable columns.
 * Each file is read by both profile-table readers (one file: hyparquet; a folder: DuckDB) and
 * checked value by value against the rows it was written from.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { parquetMetadata } from 'hyparquet';
import { readProfileTable } from '../../src/tables/read.ts';
import { readProfileDataset } from '../../src/tables/partitioned-dataset.ts';
import { isUserError } from '../../src/util/errors.ts';

const tmp = mkdtempSync(join(tmpdir(), 'ben-parquet-flavours-'));
const N = 60;
const rows = Array.from({ length: N }, (_, i) => i);
/** The rows every fixture holds, as the readers must return them. */
const want = {
  plate: rows.map((i) => `P${i % 3}`),
  well: rows.map((i) => `${String.fromCharCode(65 + (i % 8))}${String((i % 12) + 1).padStart(2, '0')}`),
  site: rows.map((i) => String(i % 9)),
  big: rows.map((i) => String(BigInt(i) * 1000000007n)),
  dose: rows.map((i) => String(i * 0.5)),
  features: {
    f_double: rows.map((i) => i * 0.25 - 3),
    f_float: rows.map((i) => i * 1.5),
    f_int: rows.map((i) => i * 7 - 100),
    f_bigint: rows.map((i) => i * 3),
    f_small: rows.map((i) => i % 5),
  } as Record<string, number[]>,
};

/** Type of the first page of column `col` (0 DATA_PAGE, 2 DICTIONARY_PAGE, 3 DATA_PAGE_V2) and of its data page. */
function pageTypes(path: string, col: string): { first: number; data: number } {
  const b = readFileSync(path);
  const md = parquetMetadata(b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer);
  const chunk = md.row_groups[0].columns.find((c) => c.meta_data?.path_in_schema.join('.') === col)!.meta_data!;
  // A page header opens with field 1 (i32 `type`) in Thrift's compact protocol: 0x15, then a zigzag varint.
  const typeAt = (at: number) => {
    expect(b[at]).toBe(0x15);
    return b[at + 1] >> 1;
  };
  const first = Number(chunk.dictionary_page_offset ?? chunk.data_page_offset);
  return { first: typeAt(first), data: typeAt(Number(chunk.data_page_offset)) };
}

/** Checks a table read back against {@link want}: the nullable column is dropped by name. */
function expectRows(t: Awaited<ReturnType<typeof readProfileTable>>['table'], label: string, dropped: string[]) {
  expect(t.n, label).toBe(N);
  expect(t.meta.Metadata_Plate, label).toEqual(want.plate);
  expect(t.meta.Metadata_Well, label).toEqual(want.well);
  expect(t.meta.Metadata_Site, label).toEqual(want.site);
  expect(t.meta.Metadata_Big, label).toEqual(want.big);
  expect(t.meta.Metadata_Dose, label).toEqual(want.dose);
  // pandas' unnamed index (pyarrow writes it for a filtered frame) is bookkeeping: not read.
  expect(Object.keys(t.meta), label).toEqual(['Metadata_Plate', 'Metadata_Well', 'Metadata_Site', 'Metadata_Big', 'Metadata_Dose']);
  expect(t.featureNames, label).toEqual(Object.keys(want.features));
  expect(dropped, label).toEqual(['f_nullable']);
  for (const [j, name] of t.featureNames.entries()) {
    const col = Array.from({ length: N }, (_, r) => t.features[r * t.d + j]);
    expect(col, `${label} ${name}`).toEqual(want.features[name].map(Math.fround));
  }
}

describe('Parquet written by DuckDB: every codec, format V1 and V2 (delta encodings), dictionary strings, nullable features', () => {
  let con: DuckDBConnection;
  let close: () => void;
  beforeAll(async () => {
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const inst = await DuckDBInstance.create(':memory:');
    con = await inst.connect();
    close = () => {
      con.closeSync();
      inst.closeSync();
    };
    await con.run(`CREATE TABLE t AS SELECT
      'P' || (i % 3) AS Metadata_Plate,
      chr(65 + (i % 8)::INTEGER) || lpad(((i % 12) + 1)::VARCHAR, 2, '0') AS Metadata_Well,
      (i % 9)::INTEGER AS Metadata_Site,
      (i * 1000000007)::BIGINT AS Metadata_Big,
      (i * 0.5)::DOUBLE AS Metadata_Dose,
      (i * 0.25 - 3)::DOUBLE AS f_double,
      (i * 1.5)::FLOAT AS f_float,
      (i * 7 - 100)::INTEGER AS f_int,
      (i * 3)::BIGINT AS f_bigint,
      (i % 5)::SMALLINT AS f_small,
      CASE WHEN i = 7 THEN NULL ELSE i * 2.0 END::DOUBLE AS f_nullable,
      (i + 100)::BIGINT AS __index_level_0__
      FROM range(${N}) r(i) ORDER BY i`);
  });
  afterAll(() => close?.());

  for (const codec of ['UNCOMPRESSED', 'SNAPPY', 'GZIP', 'ZSTD', 'BROTLI', 'LZ4_RAW']) {
    for (const version of ['V1', 'V2']) {
      it(`${codec}, format ${version}`, async () => {
        const dir = join(tmp, `duckdb-${codec}-${version}`);
        mkdirSync(dir);
        const f = join(dir, 'profiles.parquet');
        await con.run(`COPY t TO '${f}' (FORMAT parquet, COMPRESSION ${codec}, PARQUET_VERSION ${version})`);
        const b = readFileSync(f);
        const md = parquetMetadata(b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer);

        expect(md.row_groups[0].columns[0].meta_data?.codec).toBe(codec);
        // Strings are dictionary-encoded; format V2 writes integers delta-encoded (pages stay V1 in DuckDB).
        expect(pageTypes(f, 'Metadata_Plate')).toEqual({ first: 2, data: 0 });
        const intChunk = md.row_groups[0].columns.find((c) => c.meta_data?.path_in_schema[0] === 'f_int')!.meta_data!;
        expect(intChunk.encodings.includes('DELTA_BINARY_PACKED')).toBe(version === 'V2');

        const one = await readProfileTable(f, { dropNaN: true });
        expectRows(one.table, `${codec} ${version} hyparquet`, one.report.droppedNaN);
        const ds = await readProfileDataset(dir, { dropNaN: true });
        expectRows(ds.table, `${codec} ${version} duckdb`, ds.report.droppedNaN);

        // Without dropping, a null is an error naming the file, the column and the row.
        for (const read of [() => readProfileTable(f, { dropNaN: false }), () => readProfileDataset(dir, { dropNaN: false })]) {
          const err = await read().then(() => undefined, (e: unknown) => e);
          expect(isUserError(err)).toBe(true);
          expect((err as Error).message).toMatch(/column "f_nullable".*missing value.*row 8.*--drop-nan/);
        }
      });
    }
  }
});

describe('Parquet written by arrow-rs (parquet-wasm): legacy LZ4, float16 and nullable dictionary columns, page V2', () => {
  it('reads every codec arrow-rs writes, float16 values exact, a null in an integer feature dropped by name', async () => {
    const arrow = await import('apache-arrow');
    const pw = await import('parquet-wasm');
    const half = rows.map((i) => i * 0.5 - 8); // exact in float16
    const table = new arrow.Table({
      Metadata_Plate: arrow.vectorFromArray(want.plate, new arrow.Dictionary(new arrow.Utf8(), new arrow.Int32())),
      Metadata_Well: arrow.vectorFromArray(want.well, new arrow.Utf8()),
      Metadata_Site: arrow.vectorFromArray(rows.map((i) => i % 9), new arrow.Int32()),
      Metadata_Half: arrow.vectorFromArray(half, new arrow.Float16()),
      f_half: arrow.vectorFromArray(half, new arrow.Float16()),
      f_float: arrow.vectorFromArray(rows.map((i) => i * 1.5), new arrow.Float32()),
      f_double: arrow.vectorFromArray(rows.map((i) => i * 0.25 - 3), new arrow.Float64()),
      f_int_nullable: arrow.vectorFromArray(rows.map((i) => (i === 30 ? null : BigInt(i))), new arrow.Int64()),
    });
    const ipc = arrow.tableToIPC(table, 'stream');
    for (const codec of ['UNCOMPRESSED', 'SNAPPY', 'GZIP', 'BROTLI', 'LZ4', 'ZSTD', 'LZ4_RAW'] as const) {
      for (const version of ['V1', 'V2'] as const) {
        const props = new pw.WriterPropertiesBuilder().setCompression(pw.Compression[codec]).setWriterVersion(pw.WriterVersion[version]).setMaxRowGroupSize(25).build();
        const dir = join(tmp, `arrow-${codec}-${version}`);
        mkdirSync(dir);
        const f = join(dir, 'profiles.parquet');
        writeFileSync(f, pw.writeParquet(pw.Table.fromIPCStream(ipc), props));
        const label = `arrow-rs ${codec} ${version}`;
        const b = readFileSync(f);
        expect(parquetMetadata(b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer).row_groups[0].columns[0].meta_data?.codec, label).toBe(codec);
        expect(pageTypes(f, 'f_half').data, label).toBe(version === 'V2' ? 3 : 0);
        // DuckDB, behind the dataset reader, has no legacy (Hadoop) LZ4: a clean error naming the codec.
        if (codec === 'LZ4') {
          const err = await readProfileDataset(dir, { dropNaN: true }).then(() => undefined, (e: unknown) => e);
          expect(isUserError(err), label).toBe(true);
          expect((err as Error).message, label).toMatch(/Cannot read the Parquet dataset .*LZ4/);
        }
        type Read = () => ReturnType<typeof readProfileTable>;
        const readers: [string, Read][] = [['hyparquet', () => readProfileTable(f, { dropNaN: true })]];
        if (codec !== 'LZ4') readers.push(['duckdb', () => readProfileDataset(dir, { dropNaN: true })]);
        for (const [reader, read] of readers) {
          const { table: t, report } = await read();
          expect(t.meta.Metadata_Plate, `${label} ${reader}`).toEqual(want.plate);
          expect(t.meta.Metadata_Site, `${label} ${reader}`).toEqual(want.site);
          expect(t.meta.Metadata_Half, `${label} ${reader}`).toEqual(half.map(String));
          expect(t.featureNames, `${label} ${reader}`).toEqual(['f_half', 'f_float', 'f_double']);
          expect(report.droppedNaN, `${label} ${reader}`).toEqual(['f_int_nullable']);
          expect(Array.from({ length: N }, (_, r) => t.features[r * 3]), `${label} ${reader}`).toEqual(half);
        }
      }
    }
  });
});
