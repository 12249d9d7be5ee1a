import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluateProfiles } from '../../src/evaluation/evaluate.ts';
import { loadProfiles } from '../../src/tables/load.ts';
import { summarizeEvaluation } from '../../src/evaluation/report.ts';
import { writeProfilesParquet } from '../../src/tables/parquet.ts';
import { openDataset, partPath, splitByPlate, writeShardLog } from '../../src/embedding/dataset-output.ts';
import type { ProfileTable } from '../../src/tables/profile-table.ts';
import { Rng } from '../../src/util/rng.ts';

const root = mkdtempSync(join(tmpdir(), 'ben-dataset-io-'));

/** Wells of 6 plates (keys with a slash, as experiment/plate), DMSO and 10 compounds with replicates across plates; a constant feature column. */
function wells(): ProfileTable {
  const rng = new Rng(11);
  const d = 12;
  const meta: Record<string, string[]> = { Metadata_Experiment: [], Metadata_Plate: [], Metadata_PlateKey: [], Metadata_Well: [], Metadata_Compound: [] };
  const fx = Array.from({ length: 10 }, () => Array.from({ length: d }, () => rng.normal()));
  const feats: number[] = [];
  for (let p = 0; p < 6; p++) {
    for (let w = 0; w < 20; w++) {
      const exp = `EXP-${p % 2}`;
      const c = w < 4 ? -1 : (p + w) % 10;
      meta.Metadata_Experiment.push(exp);
      meta.Metadata_Plate.push(`P${p}`);
      meta.Metadata_PlateKey.push(`${exp}/P${p}`);
      meta.Metadata_Well.push(`W${String(w).padStart(2, '0')}`);
      meta.Metadata_Compound.push(c < 0 ? 'DMSO' : `C${c}`);
      for (let k = 0; k < d; k++) feats.push(k === d - 1 ? 1 : (c < 0 ? 0 : (c % 2) * fx[c][k]) + rng.normal());
    }
  }
  return { n: 120, d, meta, featureNames: Array.from({ length: d }, (_, k) => `emb_${k}`), features: Float32Array.from(feats), keyValue: { model: 'm' } };
}

describe('a partitioned dataset read through DuckDB', () => {
  const t = wells();
  const file = join(root, 'wells.parquet');
  const ds = join(root, 'ds');

  it('equals the single file: same rows, metadata and float32 features; the plate partition is not a column', async () => {
    await writeProfilesParquet(file, t);
    await openDataset(ds, 'wells');
    for (const [i, { key, table }] of splitByPlate(t).entries()) await writeProfilesParquet(partPath(ds, key, i % 3), table);
    const a = await loadProfiles(file, { dropConstant: true, dropNaN: true });
    const b = await loadProfiles(ds, { dropConstant: true, dropNaN: true });
    expect(b.report.droppedConstant).toEqual(['emb_11']);
    expect(b.report.droppedConstant).toEqual(a.report.droppedConstant);
    expect(Object.keys(b.table.meta)).toEqual(Object.keys(a.table.meta));
    expect(b.table.featureNames).toEqual(a.table.featureNames);
    const rowKey = (x: ProfileTable, i: number) => `${x.meta.Metadata_PlateKey[i]}|${x.meta.Metadata_Well[i]}`;
    const index = new Map(Array.from({ length: a.table.n }, (_, i) => [rowKey(a.table, i), i]));
    expect(b.table.n).toBe(a.table.n);
    for (let i = 0; i < b.table.n; i++) {
      const j = index.get(rowKey(b.table, i))!;
      for (const m of Object.keys(a.table.meta)) expect(b.table.meta[m][i]).toBe(a.table.meta[m][j]);
      expect(Array.from(b.table.features.subarray(i * b.table.d, (i + 1) * b.table.d))).toEqual(Array.from(a.table.features.subarray(j * a.table.d, (j + 1) * a.table.d)));
    }
    expect(b.table.keyValue?.model).toBe('m');
  });

  it('gives the same activity and replicate mAP as the single file', async () => {
    const opts = { columns: { plate: 'PlateKey', replicate: ['Compound'], control: { column: 'Compound', value: 'DMSO' } }, metrics: ['map', 'map-activity'], params: { nullSize: 2000 } };
    const a = await loadProfiles(file, { dropConstant: true, dropNaN: true });
    const b = await loadProfiles(ds, { dropConstant: true, dropNaN: true });
    const ra = summarizeEvaluation(await evaluateProfiles(a.table, opts)).metrics as Record<string, Record<string, number>>;
    const rb = summarizeEvaluation(await evaluateProfiles(b.table, opts)).metrics as Record<string, Record<string, number>>;
    for (const m of ['map', 'map-activity']) {
      expect(ra[m].map).toBeGreaterThan(0.1);
      for (const k of ['map', 'mean_ap', 'fraction_retrieved', 'groups', 'profiles']) expect(Math.abs(rb[m][k] - ra[m][k])).toBeLessThanOrEqual(1e-12);
    }
  });

  it('selects plates in the query (--plates), from a glob too', async () => {
    const r = await loadProfiles(ds, { plates: ['EXP-0/P0', 'EXP-1/P3'] });
    expect(new Set(r.table.meta.Metadata_PlateKey)).toEqual(new Set(['EXP-0/P0', 'EXP-1/P3']));
    expect(r.table.n).toBe(40);
    const g = await loadProfiles(`${ds}/plate=EXP-0*/*.parquet`);
    expect(new Set(g.table.meta.Metadata_Experiment)).toEqual(new Set(['EXP-0']));
    expect(g.table.n).toBe(60);
  });

  it('notices unfinished shards; ben evaluate DIR runs without a stack trace', async () => {
    await writeShardLog(ds, { index: 0, count: 2 }, { status: 'done', started: 'x', plates: [] });
    await writeShardLog(ds, { index: 1, count: 2 }, { status: 'failed', started: 'x', plates: [], error: 'killed' });
    const r = await loadProfiles(ds);
    expect(r.report.notices?.join('\n')).toMatch(/incomplete: shard 1\/2 failed.*re-run those shards/);
    const cli = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'evaluate', ds, '--plate', 'PlateKey', '--replicate-by', 'Compound', '--control', 'Compound=DMSO', '--metrics', 'map', '--null-size', '200', '--json'], { encoding: 'utf8', env: { ...process.env, BEN_QUIET: '1' } });
    expect(cli.status).toBe(0);
    expect(cli.stderr).toMatch(/shard 1\/2 failed/);
    expect(JSON.parse(cli.stdout).metrics.map.map).toBeGreaterThan(0.1);
    const empty = join(root, 'empty');
    writeFileSync(join(root, 'x.txt'), '');
    const bad = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'evaluate', `${empty}/**/*.parquet`], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/No Parquet file matches/);
    expect(bad.stderr).not.toMatch(/    at /);
  }, 60_000);
});
