import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { readProfileTable } from '../../src/tables/read.ts';
import { metaColumn, type ProfileTable } from '../../src/tables/profile-table.ts';
import { writeProfilesParquet } from '../../src/tables/parquet.ts';

const dir = mkdtempSync(join(tmpdir(), 'ben-io-'));
const CSV = 'Metadata_Plate,Metadata_Well,f1,f2,const,gap\nP1,A01,1.5,2,7,1\nP1,A02,-3,0.25,7,\nP2,A01,4e-1,8,7,3\n';

describe('profile table IO', () => {
  it('reads CSV and CSV.gz: metadata as strings, features as float32 row-major', async () => {
    writeFileSync(join(dir, 'p.csv'), CSV);
    writeFileSync(join(dir, 'p.csv.gz'), gzipSync(CSV));
    for (const f of ['p.csv', 'p.csv.gz']) {
      const { table } = await readProfileTable(join(dir, f));
      expect(table.n).toBe(3);
      expect(table.featureNames).toEqual(['f1', 'f2', 'const', 'gap']);
      expect(table.meta.Metadata_Well).toEqual(['A01', 'A02', 'A01']);
      expect(Array.from(table.features.subarray(0, 4))).toEqual([1.5, 2, 7, 1]);
      expect(table.features[7]).toBeNaN();
      expect(table.features[8]).toBeCloseTo(0.4, 6);
    }
  });

  it('drops constant and NaN columns on request and reports them', async () => {
    const { table, report } = await readProfileTable(join(dir, 'p.csv'), { dropConstant: true, dropNaN: true });
    expect(table.featureNames).toEqual(['f1', 'f2']);
    expect(report).toEqual({ droppedConstant: ['const'], droppedNaN: ['gap'] });
    expect(Array.from(table.features)).toEqual([1.5, 2, -3, 0.25, Math.fround(0.4), 8]);
  });

  it('reads Parquet with key-value metadata', async () => {
    const buf = parquetWriteBuffer({
      columnData: [
        { name: 'Metadata_Plate', data: ['P1', 'P2'], type: 'STRING' },
        { name: 'emb_0000', data: new Float32Array([0.5, -1]), type: 'FLOAT' },
        { name: 'emb_0001', data: new Float32Array([2, 3]), type: 'FLOAT' },
      ],
      kvMetadata: [{ key: 'ben.mode', value: 'plate' }],
    });
    writeFileSync(join(dir, 'e.parquet'), new Uint8Array(buf));
    const { table } = await readProfileTable(join(dir, 'e.parquet'));
    expect(table.meta.Metadata_Plate).toEqual(['P1', 'P2']);
    expect(Array.from(table.features)).toEqual([0.5, 2, -1, 3]);
    expect(table.keyValue?.['ben.mode']).toBe('plate');
  });

  it('reads what `ben embed` writes (embedding Parquet round trip)', async () => {
    const t: ProfileTable = {
      n: 3,
      d: 2,
      meta: { Metadata_Plate: ['P1', 'P1', 'P2'], Metadata_Well: ['A01', 'A02', 'B01'] },
      featureNames: ['emb_0000', 'emb_0001'],
      features: new Float32Array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]),
      keyValue: { 'ben.normalization': 'plate' },
    };
    await writeProfilesParquet(join(dir, 'emb.parquet'), t);
    const { table } = await readProfileTable(join(dir, 'emb.parquet'));
    expect(table.meta).toEqual(t.meta);
    expect(table.featureNames).toEqual(t.featureNames);
    expect(Array.from(table.features)).toEqual(Array.from(t.features));
    expect(table.keyValue?.['ben.normalization']).toBe('plate');
  });

  it('gives clear user errors', async () => {
    await expect(readProfileTable(join(dir, 'missing.csv'))).rejects.toThrow(/does not exist/);
    writeFileSync(join(dir, 'bad.csv'), 'Metadata_Plate,Compound,f1\nP1,DMSO,1\n');
    await expect(readProfileTable(join(dir, 'bad.csv'))).rejects.toThrow(/row 1, column "Compound": "DMSO" is not a number/);
    const { table } = await readProfileTable(join(dir, 'p.csv'));
    expect(() => metaColumn(table, 'Metadata_moa')).toThrow(/Available: Metadata_Plate, Metadata_Well/);
    expect(metaColumn(table, 'Plate')).toEqual(['P1', 'P1', 'P2']);
  });
});
