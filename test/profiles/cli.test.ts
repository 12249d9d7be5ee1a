import { describe, expect, it, vi } from 'vitest';
import yargs from 'yargs';
import { evaluateCommand } from '../../src/cli/commands/evaluate.ts';
import { profilesCommand } from '../../src/cli/commands/profiles.ts';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../../src/datasets/index.ts';
import { GALLERY, LINCS_PLATE, MORPHEUS } from '../evaluation/fixtures.ts';
import { readWithDuckDB } from '../embedding/helpers.ts';
import { evaluateProfiles } from '../../src/evaluation/evaluate.ts';
import { distributeOptions } from '../../src/evaluation/metric.ts';
import type { ProfileTable } from '../../src/tables/profile-table.ts';
import { writeProfilesParquet } from '../../src/tables/parquet.ts';
import { quickstartLike } from './helpers.ts';
import { loadProfiles } from '../../src/tables/load.ts';
import { PROFILE_STEPS_KEY } from '../../src/profiles/profiles.ts';

const root = mkdtempSync(join(tmpdir(), 'ben-profiles-cli-'));

/** The real CLI in a child process (exit code and error formatting). */
function benProcess(...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { encoding: 'utf8', env: { ...process.env, BEN_QUIET: '1' } });
}

/** `ben profiles` / `ben evaluate` parsed by yargs and run in this process (stdout captured). */
async function ben(...args: string[]) {
  const out: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  const err = vi.spyOn(console, 'error').mockImplementation(() => {});
  let status = 0;
  let stderr = '';
  try {
    await yargs(args).command(profilesCommand).command(evaluateCommand).strict().fail((msg, e) => {
      throw e ?? new Error(msg);
    }).parseAsync();
  } catch (e) {
    status = 1;
    stderr = String((e as Error).message);
  } finally {
    log.mockRestore();
    err.mockRestore();
  }
  const stdout = out.join('\n');
  return { status, stderr, stdout, json: () => JSON.parse(stdout) };
}

/** A profile table read back with DuckDB: VARCHAR columns are metadata, FLOAT columns features, in file order. */
async function duckTable(path: string): Promise<{ table: ProfileTable; kv: Record<string, string> }> {
  const { columns, rows, kv } = await readWithDuckDB(path);
  const meta: Record<string, string[]> = {};
  const feat: number[] = [];
  columns.forEach((c, j) => {
    if (c.type === 'VARCHAR') meta[c.name] = rows.map((r) => String(r[j]));
    else feat.push(j);
  });
  const d = feat.length;
  const features = new Float32Array(rows.length * d);
  rows.forEach((r, i) => feat.forEach((j, k) => (features[i * d + k] = Number(r[j]))));
  return { table: { n: rows.length, d, meta, featureNames: feat.map((j) => columns[j].name), features }, kv };
}

const haveData = existsSync(LINCS_PLATE) && existsSync(GALLERY) && existsSync(MORPHEUS);
if (!haveData) console.warn(`skipping the ben profiles reference checks: ${LINCS_PLATE} or ${GALLERY} is missing`);

describe.skipIf(!haveData)('ben profiles + ben evaluate on the reference profiles', () => {
  it('copairs activity mAP on LINCS SQ00015054 from the four pair lists given on the command line', async () => {
    const out = join(root, 'lincs.parquet');
    const p = await ben('profiles', LINCS_PLATE, '--aggregate-by', 'Plate,Well', '--out', out, '--json');
    expect(p.status, p.stderr).toBe(0);
    expect(p.json().steps[0]).toMatchObject({ step: 'aggregate', rowsIn: 384, rowsOut: 384 });
    const keys = 'broad_sample,reference_index';
    const e = await ben('evaluate', out, '--reference-index', 'broad_sample=DMSO', '--pos-sameby', keys, '--pos-diffby', '', '--neg-sameby', '', '--neg-diffby', keys, '--metrics', 'map', '--null-size', '2000', '--json');
    expect(e.status, e.stderr).toBe(0);
    const m = e.json().metrics.map;
    // copairs v0.5.2 on this plate (peers/README.md): mean of mAP over 58 compounds 0.617832, mean AP over 360 wells 0.630571.
    expect(m.preset).toBe('custom');
    expect(m.pos_sameby).toBe('[Metadata_broad_sample, Metadata_reference_index]');
    expect(m.pos_diffby).toBe('[]');
    expect(m.groups).toBe(58);
    expect(m.profiles).toBe(360);
    expect(Math.abs(m.map - 0.617832)).toBeLessThan(1e-4);
    expect(Math.abs(m.mean_ap - 0.630571)).toBeLessThan(1e-4);
    // The named preset is the same computation.
    const pre = await ben('evaluate', out, '--control', 'broad_sample=DMSO', '--replicate-by', 'broad_sample', '--metrics', 'map-activity', '--null-size', '2000', '--json');
    expect(pre.status, pre.stderr).toBe(0);
    const a = pre.json().metrics['map-activity'];
    expect(a.map).toBe(m.map);
    expect(a.fraction_retrieved).toBe(m.fraction_retrieved);
    expect(a.neg_diffby).toBe(m.neg_diffby);
  }, 60_000);

  it('BBBC021 well profiles: the activity mAP from explicit lists equals the activity preset (0.907)', async () => {
    const out = join(root, 'bbbc021.parquet');
    const p = await ben('profiles', MORPHEUS, '--aggregate-by', 'Plate,Well', '--out', out, '--json');
    expect(p.status, p.stderr).toBe(0);
    const keys = 'Compound,Concentration,reference_index';
    const e = await ben('evaluate', out, '--reference-index', 'Compound=DMSO', '--pos-sameby', keys, '--pos-diffby', '', '--neg-sameby', '', '--neg-diffby', keys, '--metrics', 'map', '--null-size', '2000', '--json');
    expect(e.status, e.stderr).toBe(0);
    const pre = await ben('evaluate', out, '--control', 'Compound=DMSO', '--replicate-by', 'Compound,Concentration', '--metrics', 'map-activity', '--null-size', '2000', '--json');
    expect(pre.status, pre.stderr).toBe(0);
    const [m, a] = [e.json().metrics.map, pre.json().metrics['map-activity']];
    expect(m.groups).toBe(103);
    expect(m.map).toBe(a.map);
    expect(m.fraction_retrieved).toBe(a.fraction_retrieved);
    expect(m.map).toBeCloseTo(0.9073, 4);
  }, 60_000);

  it('mad_robustize profiles written by ben profiles and read back by DuckDB score exactly as ben evaluate --normalize', async () => {
    const out = join(root, 'bbbc021-mad.parquet');
    const p = await ben('profiles', GALLERY, '--aggregate', 'none', '--normalize', 'mad_robustize', '--plate', 'Plate', '--control', 'Compound=DMSO', '--out', out, '--json');
    expect(p.status, p.stderr).toBe(0);
    const { table, kv } = await duckTable(out);
    expect(table.n).toBe(632);
    const steps = JSON.parse(kv[PROFILE_STEPS_KEY]);
    expect(steps).toMatchObject([{ step: 'correct', method: 'mad_robustize', groupBy: ['Metadata_Plate'], groups: 55, fitRows: 330, epsilon: 1e-18 }]);
    const args = ['--label', 'moa', '--plate', 'Plate', '--batch', 'Batch', '--compound', 'Compound', '--replicate-by', 'Treatment', '--control', 'Compound=DMSO'];
    const metrics = ['map', 'map-activity', 'percent-replicating', 'knn'];
    const e = await ben('evaluate', GALLERY, '--normalize', 'mad_robustize', ...args, '--metrics', metrics.join(','), '--null-size', '1000', '--json');
    expect(e.status, e.stderr).toBe(0);
    const viaEvaluate = e.json().metrics;
    const viaFile = await evaluateProfiles(table, {
      columns: { label: 'moa', plate: 'Plate', batch: 'Batch', compound: 'Compound', replicate: ['Treatment'], control: { column: 'Compound', value: 'DMSO' } },
      metrics,
      options: distributeOptions({ nullSize: 1000 }),
    });
    for (const name of metrics) {
      const { seconds: _s, ...want } = viaEvaluate[name];
      void _s;
      const got = JSON.parse(JSON.stringify(viaFile.metrics[name].summary, (_, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v)));
      expect(got).toEqual(want);
    }
    expect(viaEvaluate.knn.nsc_queries).toBe(103);
    expect(viaEvaluate['map-activity'].groups).toBe(103);
  }, 60_000);
});

describe('grouping options naming several columns', () => {
  it('ben profiles and ben evaluate with --plate Experiment,Plate see 6 plates (Plate alone pools them into 3)', async () => {
    const emb = join(root, 'quickstart-like.parquet');
    await writeProfilesParquet(emb, quickstartLike());
    const wells = join(root, 'quickstart-like.wells.parquet');
    const p = await ben('profiles', emb, '--normalize', 'standardize', '--plate', 'Experiment,Plate', '--control', 'WellType=negative_control', '--out', wells, '--json');
    expect(p.status, p.stderr).toBe(0);
    const steps = p.json().steps;
    expect(steps[0]).toMatchObject({ step: 'aggregate', method: 'mean', rowsIn: 96, rowsOut: 48 });
    expect(steps[1]).toMatchObject({ step: 'correct', groupBy: ['Metadata_Experiment', 'Metadata_Plate'], groups: 6, fitRows: 12 });
    const common = ['--label', 'Label', '--control', 'WellType=negative_control', '--metrics', 'batch-predictability', '--json'];
    const six = await ben('evaluate', emb, '--plate', 'Experiment,Plate', '--normalize', 'tvn', '--batch', 'Experiment', ...common);
    expect(six.status, six.stderr).toBe(0);
    const r6 = six.json();
    expect(r6.metrics['batch-predictability'].plate_classes).toBe(6);
    expect(r6.preprocessing.correction).toMatchObject({ method: 'tvn', groups: 6, batches: 2 });
    expect(r6.columns.plate).toBe('Metadata_Experiment_Plate');
    const three = await ben('evaluate', emb, '--plate', 'Plate', '--normalize', 'standardize', ...common);
    expect(three.status, three.stderr).toBe(0);
    expect(three.json().metrics['batch-predictability'].plate_classes).toBe(3);
    expect(three.json().preprocessing.correction.groups).toBe(3);
  }, 60_000);

  it('refuses to write over the input or over a file it did not write', async () => {
    const foreign = join(root, 'foreign.parquet');
    writeFileSync(foreign, 'not ours');
    const emb = join(root, 'quickstart-like.parquet');
    const r = benProcess('profiles', emb, '--out', foreign);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/--out .*foreign.parquet exists and is not an output of ben-ssl; it is left untouched/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const same = await ben('profiles', emb, '--out', emb);
    expect(same.stderr).toMatch(/would replace .*quickstart-like.parquet, which this command reads/);
    // An embeddings file of ours is still not a profiles file: not replaced either.
    expect((await ben('profiles', join(root, 'quickstart-like.wells.parquet'), '--aggregate', 'none', '--normalize', 'standardize', '--plate', 'Plate', '--normalize-on', 'all', '--out', emb)).stderr).toMatch(/not an output of ben-ssl/);
  });
});

describe('corrections through the CLI (child process): few controls, zero scales, ComBat and Harmony', () => {
  /** quickstart-like sites: 6 plates, 4 control sites each, 6 features; feature 2 takes one value on every control. */
  async function fewControls(): Promise<string> {
    const t = quickstartLike();
    for (let i = 0; i < t.n; i++) if (t.meta.Metadata_WellType[i] === 'negative_control') t.features[i * t.d + 2] = 1.25;
    const path = join(root, 'few-controls.parquet');
    await writeProfilesParquet(path, t);
    return path;
  }

  it('mad_robustize on 4 controls per plate: warns when it runs, centres zero-scale features instead of dividing by epsilon', async () => {
    const emb = await fewControls();
    const out = join(root, 'few-controls.mad.parquet');
    const r = benProcess('profiles', emb, '--aggregate', 'none', '--normalize', 'mad_robustize', '--plate', 'Experiment,Plate', '--control', 'WellType=negative_control', '--out', out);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/warning: mad_robustize: 6 of 6 group\(s\) fit a centre and scale per feature on fewer rows \(4\) than the 6 features.*Fit on all wells \(--normalize-on all\)/);
    expect(r.stderr).toMatch(/warning: mad_robustize: 6 \(group, feature\) pair\(s\) have a zero scale on their fit rows; those features are centred only/);
    expect(r.stdout).toMatch(/correct: mad_robustize per Metadata_Experiment\+Metadata_Plate \(6 groups\) fitted on controls WellType=negative_control \(24 rows\), 6 zero-scale/);
    const { table } = await loadProfiles(out, { dropConstant: false, dropNaN: false });
    // pycytominer's 1e-18 alone would have written values near 1e17 here.
    expect(Math.max(...Array.from(table.features, Math.abs))).toBeLessThan(1e3);
    // Fitted on all 16 sites of each plate, there is nothing to warn about.
    const all = benProcess('profiles', emb, '--aggregate', 'none', '--normalize', 'mad_robustize', '--plate', 'Experiment,Plate', '--normalize-on', 'all', '--out', join(root, 'few-controls.mad-all.parquet'));
    expect(all.status, all.stderr).toBe(0);
    expect(all.stderr).not.toMatch(/warning/);
    // ben evaluate says the same when it corrects.
    const e = benProcess('evaluate', emb, '--plate', 'Experiment,Plate', '--label', 'Label', '--control', 'WellType=negative_control', '--normalize', 'mad_robustize', '--metrics', 'batch-predictability');
    expect(e.status, e.stderr).toBe(0);
    expect(e.stderr).toMatch(/warning: mad_robustize: 6 of 6 group\(s\)/);
  }, 60_000);

  it('combat and harmony over the experiments; their options; bad input is one message without a stack trace', async () => {
    const emb = await fewControls();
    const out = join(root, 'few-controls.harmony.parquet');
    const h = benProcess('profiles', emb, '--aggregate', 'none', '--normalize', 'harmony', '--batch', 'Experiment', '--correction-option', 'nPcs=4', '--correction-option', 'seed=3', '--out', out, '--json');
    expect(h.status, h.stderr).toBe(0);
    const step = JSON.parse(h.stdout).steps[0];
    expect(step).toMatchObject({ method: 'harmony', fitOn: 'all', components: 4, batch: ['Metadata_Experiment'], batches: 2, params: { nPcs: 4, seed: 3, theta: 2 } });
    const { table } = await loadProfiles(out, { dropConstant: false, dropNaN: false });
    expect(table.featureNames).toEqual(['harmony_0000', 'harmony_0001', 'harmony_0002', 'harmony_0003']);
    const c = await ben('profiles', emb, '--aggregate', 'none', '--normalize', 'combat', '--batch', 'Experiment,Plate', '--out', join(root, 'few-controls.combat.parquet'), '--json');
    expect(c.status, c.stderr).toBe(0);
    expect(c.json().steps[0]).toMatchObject({ method: 'combat', batch: ['Metadata_Experiment', 'Metadata_Plate'], batches: 6 });
    const bad = [
      [['--normalize', 'harmony', '--batch', 'Week'], /Metadata column "Week" not found/],
      [['--normalize', 'harmony', '--batch', 'Experiment', '--correction-option', 'nPcs=200'], /harmony: nPcs 200 is more principal components than 96 profiles give/],
      [['--normalize', 'combat', '--batch', 'Experiment,Plate,Well,Site'], /combat: batch "EXP-0\/1\/B02\/1" has 1 profile\(s\)/],
      [['--normalize', 'combat', '--batch', 'Experiment', '--normalize-on', 'controls', '--control', 'WellType=negative_control'], /combat is fitted on all rows, not on controls/],
      [['--normalize', 'combat'], /--normalize combat corrects between batches: name the batch column\(s\) with --batch/],
      [['--normalize', 'harmony', '--batch', 'Experiment', '--correction-option', 'tehta=1'], /Invalid option\(s\) for the harmony correction.*Known options: nPcs, theta/],
    ] as const;
    for (const [args, msg] of bad) {
      const r = await ben('profiles', emb, '--aggregate', 'none', ...args, '--out', join(root, 'bad.parquet'));
      expect(r.status, args.join(' ')).not.toBe(0);
      expect(r.stderr).toMatch(msg);
    }
    // In a child process: the exit code of a user error and one message, no stack trace.
    const r = benProcess('profiles', emb, '--aggregate', 'none', '--normalize', 'combat', '--batch', 'Experiment,Plate,Well,Site', '--out', join(root, 'bad.parquet'));
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    // ben evaluate --normalize harmony corrects between --batch (here the plates when none is named).
    const e = await ben('evaluate', emb, '--plate', 'Experiment,Plate', '--label', 'Label', '--normalize', 'harmony', '--metrics', 'batch-predictability', '--json');
    expect(e.status, e.stderr).toBe(0);
    expect(e.json().preprocessing.correction).toMatchObject({ method: 'harmony', batch: ['Metadata_Experiment_Plate'], batches: 6 });
  }, 120_000);
});
