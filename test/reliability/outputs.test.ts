/**
 * Fault corpus, data safety: no command deletes or replaces what it did not create, an input is
 * never inside what is replaced, an output of ours is replaced in place (old aside, new in, old
 * removed) with no leftovers, and leftovers of dead processes are cleaned up or restored.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ben, deadPid, expectFailure, leftovers, profileCsv, scratch, snapshot, tinyRecipeFlags, userFolder } from './helpers.ts';

const root = scratch('outputs');
const data = join(root, 'tiny');
const model = join(root, 'pre', 'model');
const table = join(root, 'profiles.csv');

beforeAll(() => {
  expect(ben(['data', 'synth', '--preset', 'tiny', '--out', data, '--quiet']).status).toBe(0);
  const r = ben(['pretrain', '--recipe', 'recipes/simclr-ben.yaml', ...tinyRecipeFlags(data, 2), '--run-dir', join(root, 'pre'), '--quiet']);
  expect(r.status, r.stderr).toBe(0);
  writeFileSync(table, profileCsv(2));
}, 180_000);

const evalArgs = (t: string, out: string) => ['evaluate', t, '--plate', 'Metadata_Plate', '--replicate-by', 'Metadata_Label', '--metrics', 'map', '--out', out];

describe('ben evaluate --out', () => {
  it('refuses a folder of the user that holds the input table, and changes nothing in it', () => {
    const { dir, before } = userFolder(join(root, 'eval-user-1'));
    writeFileSync(join(dir, 'profiles.csv'), profileCsv(2));
    const snap = snapshot(dir);
    expectFailure(ben(evalArgs(join(dir, 'profiles.csv'), dir)), 2, /--out .*eval-user-1 would replace .*profiles\.csv, which this command reads/);
    expect(snapshot(dir)).toEqual(snap);
    expect(Object.keys(before).every((k) => k in snap)).toBe(true);
  });

  it('refuses a non-empty folder without summary.json, and changes nothing', () => {
    const { dir, before } = userFolder(join(root, 'eval-user-2'));
    expectFailure(ben(evalArgs(table, dir)), 2, /eval-user-2 exists and is not an output of ben-ssl \(it has no summary\.json\)/);
    expect(snapshot(dir)).toEqual(before);
  });

  it('replaces its own earlier output in place, leaving no temporary or aside copies', () => {
    const out = join(root, 'eval-own');
    expect(ben(evalArgs(table, out)).status).toBe(0);
    writeFileSync(join(out, 'stale.csv'), 'from the first run');
    const again = ben(evalArgs(table, out));
    expect(again.status, again.stderr).toBe(0);
    expect(existsSync(join(out, 'summary.json'))).toBe(true);
    expect(existsSync(join(out, 'stale.csv'))).toBe(false);
    expect(leftovers(root).filter((l) => l.includes('eval-own'))).toEqual([]);
  });

  it('refuses --out that is the table file itself', () => {
    const before = readFileSync(table, 'utf8');
    expectFailure(ben(evalArgs(table, table)), 2, /would replace .*profiles\.csv, which this command reads/);
    expect(readFileSync(table, 'utf8')).toBe(before);
  });

  it("removes a dead process's temporary output and restores an interrupted replacement", () => {
    const out = join(root, 'eval-recover');
    const pid = deadPid();
    // A kill between "old aside" and "new in": only the aside copy exists.
    mkdirSync(join(root, `.eval-recover.${pid}.old`));
    writeFileSync(join(root, `.eval-recover.${pid}.old`, 'summary.json'), '{}');
    mkdirSync(join(root, `.eval-recover.${pid}.deadbeef.tmp`));
    const r = ben(evalArgs(table, out));
    expect(r.status, r.stderr).toBe(0);
    expect(existsSync(join(root, `.eval-recover.${pid}.deadbeef.tmp`))).toBe(false);
    expect(existsSync(join(root, `.eval-recover.${pid}.old`))).toBe(false);
    expect(JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')).metrics.map).toBeDefined();
  });
});

describe('ben report --out', () => {
  const run = join(root, 'run');
  beforeAll(() => {
    mkdirSync(join(run, 'ben'), { recursive: true });
    const r = ben(['embed', '--model', model, '--data', data, '--out', join(run, 'ben', 'embeddings.parquet'), '--normalization', 'plate', '--quiet']);
    expect(r.status, r.stderr).toBe(0);
  }, 120_000);

  it('refuses to write the report over the run directory it reads, which stays intact', () => {
    const before = snapshot(run);
    expectFailure(ben(['report', run, '--out', run]), 2, /would replace .*run, which this command reads/);
    expect(snapshot(run)).toEqual(before);
  });

  it('refuses a non-empty folder of the user', () => {
    const { dir, before } = userFolder(join(root, 'report-user'));
    expectFailure(ben(['report', run, '--out', dir]), 2, /report-user exists and is not an output of ben-ssl/);
    expect(snapshot(dir)).toEqual(before);
  });

  it('replaces its own report (generator mark) on a second call', () => {
    expect(ben(['report', run]).status).toBe(0);
    const r = ben(['report', run]);
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(join(run, 'report', 'index.html'), 'utf8')).toContain('content="ben-ssl report"');
    expect(leftovers(run)).toEqual([]);
  }, 120_000);
});

describe('ben data synth --out and synthetic recipes', () => {
  it('refuses a user folder', () => {
    const { dir, before } = userFolder(join(root, 'synth-user'));
    expectFailure(ben(['data', 'synth', '--preset', 'tiny', '--out', dir, '--quiet']), 2, /synth-user exists and is not an output of ben-ssl \(it has no synth\.json\)/);
    expect(snapshot(dir)).toEqual(before);
  });

  it('regenerates its own data set in place (synth.json marker)', () => {
    const out = join(root, 'synth-own');
    expect(ben(['data', 'synth', '--preset', 'tiny', '--out', out, '--quiet']).status).toBe(0);
    const r = ben(['data', 'synth', '--preset', 'tiny', '--seed', '3', '--out', out, '--quiet']);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(out, 'synth.json'), 'utf8')).config.seed).toBe(3);
    expect(leftovers(root).filter((l) => l.includes('synth-own'))).toEqual([]);
  }, 60_000);

  it('a synthetic recipe with data.path at a user folder refuses instead of removing it', () => {
    const { dir, before } = userFolder(join(root, 'recipe-user-data'));
    const r = ben(['pretrain', '--recipe', 'recipes/simclr-ben.yaml', ...tinyRecipeFlags(dir, 2), '--run-dir', join(root, 'recipe-user-run'), '--quiet']);
    expectFailure(r, 2, /recipe-user-data exists and is not an output of ben-ssl \(it has no synth\.json\)/);
    expect(snapshot(dir)).toEqual(before);
  });
});

describe('ben embed --out', () => {
  it("refuses to replace a Parquet file ben-ssl did not write", () => {
    const { dir, before } = userFolder(join(root, 'embed-user'), { 'mine.parquet': 'PAR1 not ours PAR1' });
    expectFailure(ben(['embed', '--model', model, '--data', data, '--out', join(dir, 'mine.parquet'), '--quiet']), 2, /--out .*mine\.parquet exists and is not an output of ben-ssl/);
    expect(snapshot(dir)).toEqual(before);
  });

  it('writing beside the data set adds its two files and changes nothing of the data', () => {
    const before = snapshot(data);
    const r = ben(['embed', '--model', model, '--data', data, '--out', join(data, 'emb.parquet'), '--quiet']);
    expect(r.status, r.stderr).toBe(0);
    const after = snapshot(data);
    expect(Object.keys(after).filter((k) => !(k in before)).sort()).toEqual(['emb.parquet', 'emb.wells.parquet']);
    for (const [k, h] of Object.entries(before)) expect(after[k]).toBe(h);
  });

  it('replaces its own per-image and well files together, with no leftovers', () => {
    const out = join(root, 'emb', 'e.parquet');
    expect(ben(['embed', '--model', model, '--data', data, '--out', out, '--quiet']).status).toBe(0);
    const r = ben(['embed', '--model', model, '--data', data, '--out', out, '--normalization', 'running', '--quiet']);
    expect(r.status, r.stderr).toBe(0);
    expect(existsSync(join(root, 'emb', 'e.wells.parquet'))).toBe(true);
    expect(leftovers(join(root, 'emb'))).toEqual([]);
  });
});
