import { describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProfileParquetWriter, sliceRows, writeProfilesParquet } from '../../src/tables/parquet.ts';
import { makeTable, readWithDuckDB } from './helpers.ts';

const META = [
  'Metadata_Experiment', 'Metadata_Plate', 'Metadata_Well', 'Metadata_Site',
  'Metadata_CellType', 'Metadata_Label', 'Metadata_WellType', 'Metadata_Split',
];

describe('writeProfilesParquet', () => {
  it('writes Metadata_* strings and float32 emb_* columns that DuckDB reads back exactly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ben-pq-'));
    const t = makeTable({ plates: 3, wells: 17, d: 12, seed: 7 }); // 102 rows
    const path = join(dir, 'emb.parquet');
    const summary = await writeProfilesParquet(path, t, { rowGroupSize: 40, keyValue: { normalization: 'plate' } });
    expect(summary).toMatchObject({ rows: 102, rowGroups: 3 });

    const { columns, rows, kv } = await readWithDuckDB(path);
    expect(columns.map((c) => c.name)).toEqual([...META, ...Array.from({ length: 12 }, (_, j) => `emb_${String(j).padStart(4, '0')}`)]);
    // Metadata_Site is a number in the file (INT32), the other metadata strings.
    expect(columns.map((c) => c.type)).toEqual([...META.map((m) => (m === 'Metadata_Site' ? 'INTEGER' : 'VARCHAR')), ...Array(12).fill('FLOAT')]);
    expect(rows.length).toBe(102);
    for (let i = 0; i < t.n; i++) {
      expect(rows[i].slice(0, 8)).toEqual(META.map((m) => (m === 'Metadata_Site' ? Number(t.meta[m][i]) : t.meta[m][i])));
      // FLOAT read as a JS number equals the float32 value bit for bit.
      expect(rows[i].slice(8)).toEqual(Array.from(t.features.subarray(i * 12, (i + 1) * 12)));
    }
    expect(kv).toMatchObject({ model: 'm1', normalization: 'plate' });
    expect(readdirSync(dir)).toEqual(['emb.parquet']); // no temp file left behind
  });

  it('streams uneven chunks into fixed row groups with the same result as one call', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ben-pq-'));
    const t = makeTable({ plates: 2, wells: 25, d: 5, seed: 3 }); // 100 rows
    const a = join(dir, 'a.parquet'), b = join(dir, 'b.parquet');
    await writeProfilesParquet(a, t, { rowGroupSize: 30 });
    const w = await ProfileParquetWriter.open(b, { meta: META, features: t.featureNames }, { rowGroupSize: 30, keyValue: t.keyValue });
    for (const [r0, r1] of [[0, 7], [7, 7], [7, 61], [61, 62], [62, 100]]) await w.append(sliceRows(t, r0, r1));
    const s = await w.close();
    expect(s).toMatchObject({ rows: 100, rowGroups: 4 });
    expect((await readWithDuckDB(b)).rows).toEqual((await readWithDuckDB(a)).rows);
  });

  it('round-trips through the evaluation reader (readProfileTable, hyparquet)', async () => {
    const { readProfileTable } = await import('../../src/tables/read.ts');
    const dir = mkdtempSync(join(tmpdir(), 'ben-pq-'));
    const t = makeTable({ plates: 2, wells: 9, d: 7, seed: 9 });
    const path = join(dir, 'emb.parquet');
    await writeProfilesParquet(path, t, { rowGroupSize: 10 });
    const { table } = await readProfileTable(path);
    expect(table.n).toBe(t.n);
    expect(table.featureNames).toEqual(t.featureNames);
    expect(table.meta).toEqual(t.meta);
    expect(Array.from(table.features)).toEqual(Array.from(t.features));
  });

  it('rejects bad layouts with a message naming the column', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ben-pq-'));
    const t = makeTable({ plates: 1, wells: 2, d: 3, seed: 1 });
    await expect(writeProfilesParquet(join(dir, 'x.parquet'), { ...t, featureNames: ['a', 'a', 'b'] })).rejects.toThrow(/"a" appears twice/);
    await expect(writeProfilesParquet(join(dir, 'x.parquet'), { ...t, meta: { ...t.meta, Plate: t.meta.Metadata_Plate } })).rejects.toThrow(/"Plate" must start with "Metadata_"/);
    await expect(writeProfilesParquet(join(dir, 'x.parquet'), { ...t, n: t.n + 1 })).rejects.toThrow(/expected n\*d/);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('atomic output', () => {
  it('a failure after a row group reached disk leaves nothing at the destination and keeps the old file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ben-pq-'));
    const path = join(dir, 'emb.parquet');
    writeFileSync(path, 'previous export');
    const t = makeTable({ plates: 2, wells: 10, d: 4, seed: 2 });
    let tempSeen = false;
    const failing = writeProfilesParquet(path, t, {
      rowGroupSize: 10,
      onRowGroup: (rows) => {
        tempSeen = readdirSync(dir).some((f) => f.endsWith('.tmp'));
        if (rows >= 20) throw new Error('disk full (simulated)');
      },
    });
    await expect(failing).rejects.toThrow('disk full (simulated)');
    expect(tempSeen).toBe(true); // the rows were really being written, to the temp file
    expect(readFileSync(path, 'utf8')).toBe('previous export');
    expect(readdirSync(dir)).toEqual(['emb.parquet']);
  });

  /** Starts write-and-hang.ts, waits until its first row group is on disk, sends `signal`; returns the dir's files after. */
  async function killMidWrite(signal: NodeJS.Signals): Promise<{ before: string[]; after: string[]; path: string }> {
    const { spawn } = await import('node:child_process');
    const dir = mkdtempSync(join(tmpdir(), 'ben-pq-'));
    const path = join(dir, 'emb.parquet');
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'write-and-hang.ts'), path], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    // The child prints one line once its first row group is on disk, then waits forever.
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (b: Buffer) => b.toString().includes('row group written') && resolve());
      child.on('exit', (code) => reject(new Error(`child exited early (${code})`)));
    });
    const before = readdirSync(dir);
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
    return { before, after: readdirSync(dir), path };
  }

  it('a process killed (SIGKILL) mid-write leaves no file at the destination', async () => {
    const { before, after, path } = await killMidWrite('SIGKILL');
    expect(before.filter((f) => f.endsWith('.tmp')).length).toBe(1); // rows were on their way to disk
    expect(existsSync(path)).toBe(false);
    expect(after.every((f) => f.endsWith('.tmp'))).toBe(true); // only the hidden temp remains
  }, 30_000);

  it('an interrupted process (SIGINT, SIGTERM) also removes its temporary file', async () => {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      const { before, after } = await killMidWrite(sig);
      expect(before.length).toBe(1);
      expect(after).toEqual([]);
    }
  }, 30_000);
});
