import { DuckDBInstance } from '@duckdb/node-api';
import type { ProfileTable } from '../../src/tables/profile-table.ts';
import { embeddingColumnNames } from '../../src/tables/parquet.ts';
import { Rng } from '../../src/util/rng.ts';

/** A small screen-like profile table: `plates` plates x `wells` wells x 2 sites, seeded normal features. */
export function makeTable(opts: { plates: number; wells: number; d: number; seed: number }): ProfileTable {
  const rng = new Rng(opts.seed);
  const meta: Record<string, string[]> = {
    Metadata_Experiment: [], Metadata_Plate: [], Metadata_Well: [], Metadata_Site: [],
    Metadata_CellType: [], Metadata_Label: [], Metadata_WellType: [], Metadata_Split: [],
  };
  for (let p = 0; p < opts.plates; p++) {
    for (let w = 0; w < opts.wells; w++) {
      for (let s = 1; s <= 2; s++) {
        meta.Metadata_Experiment.push(`EXP-${p % 2}`);
        meta.Metadata_Plate.push(String(p));
        meta.Metadata_Well.push(`B${String(w + 2).padStart(2, '0')}`);
        meta.Metadata_Site.push(String(s));
        meta.Metadata_CellType.push(p % 2 ? 'HUVEC' : 'HEPG2');
        meta.Metadata_Label.push(w === 0 ? 'EMPTY' : `sirna_${w}`);
        meta.Metadata_WellType.push(w === 0 ? 'negative_control' : 'treatment');
        meta.Metadata_Split.push('train');
      }
    }
  }
  const n = opts.plates * opts.wells * 2;
  const features = new Float32Array(n * opts.d);
  for (let i = 0; i < features.length; i++) features[i] = rng.normal();
  return { n, d: opts.d, meta, featureNames: embeddingColumnNames(opts.d), features, keyValue: { model: 'm1' } };
}

/** Reads a Parquet file with DuckDB: column names/types, all rows, key-value metadata. */
export async function readWithDuckDB(path: string): Promise<{
  columns: { name: string; type: string }[];
  rows: unknown[][];
  kv: Record<string, string>;
}> {
  const inst = await DuckDBInstance.create(':memory:');
  const con = await inst.connect();
  try {
    const q = `'${path.replaceAll("'", "''")}'`;
    const desc = await con.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${q})`);
    const columns = (desc.getRowObjectsJson() as { column_name: string; column_type: string }[]).map((r) => ({
      name: r.column_name,
      type: r.column_type,
    }));
    const rows = (await con.runAndReadAll(`SELECT * FROM read_parquet(${q}, file_row_number = true) ORDER BY file_row_number`)).getRows()
      .map((r) => (r as unknown[]).slice(0, -1));
    const kvRows = (await con.runAndReadAll(`SELECT decode(key) AS k, decode(value) AS v FROM parquet_kv_metadata(${q})`)).getRowObjectsJson() as {
      k: string;
      v: string;
    }[];
    return { columns, rows, kv: Object.fromEntries(kvRows.map((r) => [r.k, r.v])) };
  } finally {
    con.closeSync();
    inst.closeSync();
  }
}
